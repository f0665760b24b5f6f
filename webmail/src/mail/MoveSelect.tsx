import type { Mailbox } from '../api/types';
import { sortMailboxes } from './format';

/** "Move to…": a native select, so it works the same with mouse, keyboard and screen readers. */
export function MoveSelect({ mailboxes, current, onMove, label = 'Move to…' }: { mailboxes: Mailbox[]; current: string | null; onMove(mailboxId: string): void; label?: string }) {
  return (
    <select
      className="move-select"
      aria-label="Move to folder"
      value=""
      onChange={(e) => {
        if (e.target.value) onMove(e.target.value);
      }}
    >
      <option value="">{label}</option>
      {sortMailboxes(mailboxes)
        .filter((m) => m.id !== current && m.specialUse !== 'drafts')
        .map((m) => (
          <option key={m.id} value={m.id}>
            {m.name}
          </option>
        ))}
    </select>
  );
}
