import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';

/** The longest a session waits for a slot. (The idle timeout does not run meanwhile: smtp-server holds it while a command is unanswered.) */
export const DATA_SLOT_WAIT_MS = 5_000;

/**
 * How many sessions receive a message at once (NIMBUS_SMTP_DATA_SLOTS).
 *
 * A message is in this process's memory from its first byte until the store has it (a
 * blob up to the inline limit crosses to the writer thread whole, the parser and the
 * authentication read it too). With 500 sessions of 100 KB in flight that was 50 MB of
 * chunks, and as much again in copies and garbage, although only so many messages can be
 * parsed and written at a time: the CPU, not the number of sessions, sets the pace.
 *
 * So a session past the slots waits its turn (first come, first served) before it is
 * answered 354 to its DATA: until then its client keeps the message (RFC 5321 has it wait
 * for that reply before it sends a byte), so a waiting session costs no memory for it.
 * The slot is given back once the message's bytes are stored (hooks/data.ts): what comes
 * after (the authentication's DNS answers, the queue message) holds none of them.
 * (Postfix needs no such gate: its smtpd hands each message to a queue file as it arrives.)
 *
 * The gate never refuses and never stalls mail for long: a session that has waited
 * `maxWaitMs` goes ahead anyway (and then counts as one more). Senders that hold the
 * slots by sending slowly, or a burst larger than the machine can take, cost the others
 * only that wait, and memory is then what it was without a gate.
 */
export class DataGate {
  private active = 0;
  private readonly waiting: Array<{ admit: () => void; timer: NodeJS.Timeout; gone: () => boolean; resolve: () => void }> = [];
  /** The slot each session holds, given back by `leave`. */
  private readonly held = new WeakMap<object, () => void>();

  constructor(
    readonly slots: number,
    readonly maxWaitMs: number,
    /** Called when a session goes ahead after the longest wait (the edge logs it: the slots may be too few). */
    private readonly onLate: (counts: { active: number; waiting: number }) => void = () => undefined,
  ) {}

  /**
   * Resolves once `session` may receive its message; it then holds a slot until `leave(session)`.
   * A session whose client has `gone` by its turn (or its deadline) is passed over and takes none.
   */
  enter(session: object, gone: () => boolean = () => false): Promise<void> {
    if (this.active < this.slots && this.waiting.length === 0) {
      this.take(session);
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const entry = {
        gone,
        resolve,
        admit: () => {
          clearTimeout(entry.timer);
          this.take(session);
          resolve();
        },
        timer: setTimeout(() => {
          this.waiting.splice(this.waiting.indexOf(entry), 1);
          if (!gone()) {
            this.take(session);
            this.onLate(this.counts);
          }
          resolve();
        }, this.maxWaitMs),
      };
      entry.timer.unref(); // a server closing with sessions still waiting is not held open by them
      this.waiting.push(entry);
    });
  }

  /** Gives back the slot `session` holds, if any. */
  leave(session: object): void {
    this.held.get(session)?.();
  }

  /** Sessions holding a slot now, and sessions waiting for one. */
  get counts(): { active: number; waiting: number } {
    return { active: this.active, waiting: this.waiting.length };
  }

  private take(session: object): void {
    this.leave(session); // a slot it somehow still holds is not counted twice
    this.active++;
    const release = () => {
      if (this.held.get(session) !== release) return;
      this.held.delete(session);
      this.active--;
      this.admitNext();
    };
    this.held.set(session, release);
  }

  private admitNext(): void {
    while (this.active < this.slots && this.waiting.length) {
      const next = this.waiting.shift()!;
      if (!next.gone()) {
        next.admit();
        return;
      }
      clearTimeout(next.timer);
      next.resolve();
    }
  }
}

let installed = false;

interface Connection {
  _server: { options: { dataGate?: DataGate } };
  _parser: unknown;
  _dataStream: unknown;
  _onError(err: Error): void;
  send(code: number, message: string): void;
  session: { envelope: { rcptTo: unknown[] } };
  handler_DATA(command: Buffer, callback: () => void): void;
}

/**
 * Each server built by createSmtpEdge carries a `dataGate` option; this makes the
 * connection's DATA (pinned version of smtp-server) wait for a slot before upstream's
 * handler runs: it answers 354 and hands the message to onData, which gives the slot
 * back (hooks/data.ts). Commands a client pipelines behind DATA wait as they do
 * for any command not yet answered.
 */
export function installDataGate(): void {
  if (installed) return;
  installed = true;
  const proto = SMTPConnection.prototype as unknown as Connection;
  const upstream = proto.handler_DATA;
  proto.handler_DATA = function (this: Connection, command, callback) {
    const gate = this._server.options.dataGate;
    // upstream answers these at once (503 without recipients; nothing once closed)
    if (!gate || !this.session.envelope.rcptTo.length || !this._parser) return upstream.call(this, command, callback);
    const session = this.session;
    void gate.enter(session, () => !this._parser).then(() => {
      let answered = false;
      try {
        upstream.call(this, command, () => {
          answered = true;
          callback();
        });
      } catch (err) {
        // what upstream's command dispatch does with a handler that throws (it cannot see this one:
        // it runs after the wait): logged, 451, and the next command is read
        gate.leave(session);
        this._onError(err as Error);
        if (!answered) {
          this.send(451, 'Error: internal server error');
          callback();
        }
        return;
      }
      // closed while it waited: upstream started no transaction, so no reply gives the slot back
      if (!this._dataStream) gate.leave(session);
    });
  };
}
