import type { ApiError } from '../api/client';

/** What went wrong, in words, with a way to try again. */
export function describeError(error: unknown): string {
  const e = error as Partial<ApiError> & { message?: string };
  if (e?.code === 'RateLimited') {
    const s = Number(e.details?.retryAfterSeconds);
    return `Too many attempts. Try again${s ? ` in ${s < 90 ? `${s} seconds` : `${Math.ceil(s / 60)} minutes`}` : ' later'}.`;
  }
  if (e?.code === 'PayloadTooLarge') return `Too large: ${e.message ?? 'the server refused the size'}.`;
  return e?.message || 'Something went wrong.';
}

export function ErrorNotice({ error, what, onRetry }: { error: unknown; what: string; onRetry?: () => void }) {
  return (
    <div className="notice error" role="alert">
      <p>
        Couldn't {what}. {describeError(error)}
      </p>
      {onRetry && (
        <button type="button" onClick={onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}

/** A form's error beside its fields, announced as it appears; nothing when there is none. */
export function FieldError({ error }: { error: string | null | undefined }) {
  return error ? (
    <p className="field-error" role="alert">
      {error}
    </p>
  ) : null;
}
