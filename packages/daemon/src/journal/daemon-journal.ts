// The daemon's journald side in one place: mirrors of logs into journald and the optional
// journald-compatible ingest sockets. daemon.ts creates it, listen()s at start and close()s at stop;
// the openLog dispatch tells it about each log opened.
import { OPEN_FLAGS, type Domain, type WirePosition } from '@logwarden/core/protocol';
import type { DaemonConfig } from '../config.js';
import type { LogHandler } from '../log-handler.js';
import type { Logger } from '../logger.js';
import { JournalIngest } from './ingest.js';
import { JournalMirrors } from './mirror.js';

export class DaemonJournal {
  readonly mirrors: JournalMirrors;
  readonly #handler: LogHandler;
  readonly #logger: Logger;
  readonly #config: () => DaemonConfig;
  #ingest: JournalIngest | null = null;

  /** `config` is read when needed, so a reload applies to logs opened after it. */
  constructor(opts: { handler: LogHandler; logger: Logger; config: () => DaemonConfig }) {
    this.#handler = opts.handler;
    this.#logger = opts.logger;
    this.#config = opts.config;
    this.mirrors = new JournalMirrors({ source: opts.handler, logger: opts.logger, settings: () => this.#config().journal.mirror });
  }

  /** The ingest sockets, when configured. */
  get ingest(): JournalIngest | null {
    return this.#ingest;
  }

  /** Binds the ingest sockets the configuration names (none by default). */
  listen(): void {
    const c = this.#config();
    const s = c.journal.ingest;
    if (s.nativeSocket === null && s.stdoutSocket === null) return;
    this.#ingest = JournalIngest.start({
      root: this.#handler.root,
      logger: this.#logger,
      nativeSocket: s.nativeSocket,
      stdoutSocket: s.stdoutSocket,
      dir: s.dir,
      maxSize: s.maxSize ?? c.maxSize,
      maxBackups: s.maxBackups ?? c.maxBackups,
      firstBackupIndex: c.backupNaming === 'logrotate' ? 1 : 0,
      lineMax: s.lineMax,
    });
    this.#logger.info('journal ingest listening', { native: s.nativeSocket ?? 'off', stdout: s.stdoutSocket ?? 'off', dir: s.dir });
  }

  /** Called by openLog once the log is open: starts its mirror when the flag or the default asks. */
  opened(args: { path: string; driver: string; domain: Domain | null; flags: number }, position: WirePosition): void {
    if (!this.mirrors.wanted((args.flags & OPEN_FLAGS.MIRROR_JOURNAL) !== 0)) return;
    this.mirrors.start(this.#handler.root.normalize(args.path), { driver: args.driver, domain: args.domain }, position);
  }

  /** After the logs were closed: lets mirrors send what is left (bounded), closes the ingest sockets. */
  async close(): Promise<void> {
    this.#ingest?.close();
    this.#ingest = null;
    await this.mirrors.close();
  }
}
