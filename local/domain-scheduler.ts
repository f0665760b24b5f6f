import type { DomainService } from '../core/domains';
import type { Logger } from '../core/logger';
import type { MailStore } from '../core/ports';

export interface DomainSchedulerOptions {
  /** How often the stored schedule is read (new domains and manual checks are seen within this). */
  pollMs?: number;
  now?: () => number;
}

/**
 * The local shape's stand-in for the timer + Durable orchestration: it runs
 * the same check (DomainService.check, the Durable activity's code) on the same
 * schedule (core/domain-schedule.ts). The schedule lives in the store (each
 * domain's nextCheckAt), so a restart picks up where it left off; a domain is never
 * checked twice at once (the checks of one process join, and the store's claim keeps
 * other processes out).
 */
export class DomainScheduler {
  private timer: NodeJS.Timeout | null = null;
  private pass: Promise<string[]> | null = null;
  private stopped = true;
  private readonly pollMs: number;
  private readonly now: () => number;

  constructor(
    private readonly store: MailStore,
    private readonly domains: DomainService,
    private readonly logger: Logger,
    opts: DomainSchedulerOptions = {},
  ) {
    this.pollMs = opts.pollMs ?? 30_000;
    this.now = opts.now ?? Date.now;
  }

  /** Checks every domain that is due now (not one already being checked); returns the names checked. */
  runDue(): Promise<string[]> {
    // one pass at a time: a slow pass is not overlapped by the next tick
    this.pass ??= this.runPass().finally(() => (this.pass = null));
    return this.pass;
  }

  private async runPass(): Promise<string[]> {
    const now = this.now();
    const due = (await this.store.listDomains()).filter((d) => d.nextCheckAt !== null && d.nextCheckAt <= now && !this.domains.isChecking(d.name));
    const checked: string[] = [];
    await Promise.all(
      due.map(async (d) => {
        try {
          const result = await this.domains.check(d.name);
          if (result.kind === 'checked') checked.push(d.name);
        } catch (err) {
          this.logger.error({ err, domain: d.name }, 'domain check failed; it stays due');
        }
      }),
    );
    return checked.sort();
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    const tick = () => {
      this.runDue()
        .catch((err) => this.logger.error({ err }, 'domain scheduler pass failed'))
        .finally(() => {
          if (!this.stopped) this.timer = setTimeout(tick, this.pollMs);
        });
    };
    tick();
  }

  /** Stops ticking and waits for a pass in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.pass?.catch(() => undefined);
  }
}
