// Where the daemon's own messages go. Under systemd (stderr is journald's stream: JOURNAL_STREAM
// matched) they go natively to journald's socket as entries with PRIORITY and SYSLOG_IDENTIFIER,
// which keeps each message whole and its priority exact; if that socket cannot be reached they go
// to stderr with `<N>` prefixes, and anywhere else to stderr as plain timestamped lines.
import { JOURNAL_SOCKET_PATH, JournalClient } from '@logwarden/core/journal';

export interface LogOutputOptions {
  /** stderr is journald's stdout stream (main.ts compares JOURNAL_STREAM with stderr's dev:ino). */
  stderrIsJournal: boolean;
  /** journald's native socket; default /run/systemd/journal/socket. */
  socketPath?: string;
  /** SYSLOG_IDENTIFIER; default `logwardend`. */
  identifier?: string;
  /** Where lines go when not to journald; default process.stderr. */
  stderr?: (line: string) => void;
  /** Messages waiting for room in journald's socket beyond which new ones are dropped (counted). Default 4096. */
  maxPending?: number;
}

/** What Logger takes (`style`, `write`), plus where the lines end up. */
export interface LogOutput {
  readonly style: 'plain' | 'syslog';
  readonly write: (line: string) => void;
  readonly target: 'journal' | 'stderr';
  /** Messages dropped while journald was not reading. */
  readonly dropped: number;
  /** Closes the journal socket (messages still waiting are written to stderr instead). */
  close(): void;
}

const K_MESSAGE = Buffer.from('MESSAGE=');
const K_PRIORITY = Buffer.from('PRIORITY=');
const K_IDENTIFIER = Buffer.from('SYSLOG_IDENTIFIER=');
const PRIORITIES = ['0', '1', '2', '3', '4', '5', '6', '7'].map((p) => Buffer.from(p));
const LINE_RE = /^<([0-7])>/;

export function daemonLogOutput(opts: LogOutputOptions): LogOutput {
  const stderr = opts.stderr ?? ((line: string) => process.stderr.write(line));
  if (!opts.stderrIsJournal) return { style: 'plain', write: stderr, target: 'stderr', dropped: 0, close: noop };
  const client = new JournalClient({ path: opts.socketPath ?? JOURNAL_SOCKET_PATH });
  try {
    client.open();
  } catch {
    // journald's stream still takes `<N>`-prefixed lines.
    return { style: 'syslog', write: stderr, target: 'stderr', dropped: 0, close: noop };
  }
  return new JournalLogOutput(client, stderr, opts.identifier ?? 'logwardend', opts.maxPending ?? 4096);
}

class JournalLogOutput implements LogOutput {
  readonly style = 'syslog';
  readonly target = 'journal';
  readonly write: (line: string) => void;
  readonly #client: JournalClient;
  readonly #stderr: (line: string) => void;
  readonly #identifier: Buffer;
  readonly #maxPending: number;
  #dropped = 0;
  #unreported = 0;

  constructor(client: JournalClient, stderr: (line: string) => void, identifier: string, maxPending: number) {
    this.#client = client;
    this.#stderr = stderr;
    this.#identifier = Buffer.from(identifier);
    this.#maxPending = maxPending;
    this.write = (line) => {
      this.#send(line);
    };
  }

  get dropped(): number {
    return this.#dropped;
  }

  close(): void {
    this.#client.close();
  }

  // Logger hands finished `<N>message\n` lines (style 'syslog'): the prefix is the priority.
  #send(line: string): void {
    if (!this.#client.isOpen) {
      this.#stderr(line);
      return;
    }
    // A journald that stopped reading must not grow the daemon without bound; the file of any
    // guest log is unaffected either way.
    if (this.#client.pendingCount >= this.#maxPending) {
      this.#dropped++;
      this.#unreported++;
      return;
    }
    if (this.#unreported > 0) {
      const n = this.#unreported;
      this.#unreported = 0;
      this.#entry(4, `${n} logwardend messages dropped while journald was not reading`, line);
    }
    const m = LINE_RE.exec(line);
    const priority = m === null ? 6 : Number(m[1]);
    const text = line.slice(m === null ? 0 : 3, line.endsWith('\n') ? -1 : undefined);
    this.#entry(priority, text, line);
  }

  #entry(priority: number, text: string, line: string): void {
    this.#client
      .sendPieces([K_MESSAGE, Buffer.from(text), K_PRIORITY, PRIORITIES[priority] as Buffer, K_IDENTIFIER, this.#identifier])
      .catch(() => {
        // journald went away: the message still reaches whoever reads stderr.
        this.#stderr(line);
      });
  }
}

function noop(): void {
  // Nothing to close: lines went straight to stderr.
}
