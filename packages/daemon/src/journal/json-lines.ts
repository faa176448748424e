// The ingest hot path: entries appended as journalctl JSON lines straight into a reusable byte
// buffer. Output is byte-identical to core's formatJsonEntry({ all: true }) (test/journal/
// json-lines.test.ts compares them); it only skips the generic path's intermediate strings for the
// common case: ASCII values copied between quotes as they are. Measured with bench/journal-ingest.ts:
// formatJsonEntry + string joins held ingest to ~70k entries/s where raw receiving does ~135k/s.
import { formatJsonEntry, isPrintableText, type JournalField } from '@logwarden/core/journal';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

// A value JSON.stringify would print unchanged between quotes: printable ASCII without `"` and `\`.
function plainAscii(v: Buffer): boolean {
  for (let i = 0; i < v.length; i++) {
    const c = v[i] as number;
    if (c < 0x20 || c > 0x7e || c === QUOTE || c === BACKSLASH) return false;
  }
  return true;
}

function hasRepeatedName(fields: readonly JournalField[]): boolean {
  for (let i = 1; i < fields.length; i++) {
    const name = (fields[i] as JournalField).name;
    for (let j = 0; j < i; j++) if ((fields[j] as JournalField).name === name) return true;
  }
  return false;
}

// A buffer grown past this by one huge entry is given back at the next clear().
const KEEP_MAX = 1024 * 1024;

export class JsonLinesBuffer {
  readonly #initial: number;
  #buf: Buffer;
  #len = 0;

  constructor(initial = 16 * 1024) {
    this.#initial = initial;
    this.#buf = Buffer.allocUnsafe(initial);
  }

  /** Bytes held. */
  get length(): number {
    return this.#len;
  }

  /** The bytes held; valid until the next append or clear. */
  view(): Buffer {
    return this.#buf.subarray(0, this.#len);
  }

  clear(): void {
    this.#len = 0;
    if (this.#buf.length > KEEP_MAX) this.#buf = Buffer.allocUnsafe(this.#initial);
  }

  /**
   * Appends `{<head>,<fields>}\n`: `head` is JSON members already formatted (`"A":"1","B":"2"`).
   * With `all` false, values of 4096 bytes or more are null, as journalctl prints them. Returns the
   * line's length in bytes.
   */
  append(head: string, fields: readonly JournalField[], all = true): number {
    const start = this.#len;
    if (!all || fields.length > 64 || hasRepeatedName(fields)) {
      // Repeated names become arrays, nulls need the threshold: the general formatter does both.
      const body = formatJsonEntry(fields, { all });
      this.#text(`{${head}${body.length > 2 ? ',' : ''}${body.slice(1)}\n`);
      return this.#len - start;
    }
    this.#ascii(`{${head}`);
    for (const f of fields) {
      const v = f.value;
      this.#ascii(`,"${f.name}":`);
      if (plainAscii(v)) {
        this.#room(v.length + 2);
        this.#buf[this.#len++] = QUOTE;
        v.copy(this.#buf, this.#len);
        this.#len += v.length;
        this.#buf[this.#len++] = QUOTE;
      } else if (isPrintableText(v, true)) {
        this.#text(JSON.stringify(v.toString('utf8')));
      } else {
        this.#ascii(`[${v.join(',')}]`);
      }
    }
    this.#ascii('}\n');
    return this.#len - start;
  }

  /** Drops the bytes from `length` on (undoes an append). */
  truncate(length: number): void {
    this.#len = Math.min(this.#len, length);
  }

  #room(n: number): void {
    if (this.#len + n <= this.#buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.#len + n));
    this.#buf.copy(next, 0, 0, this.#len);
    this.#buf = next;
  }

  #ascii(s: string): void {
    this.#room(s.length);
    this.#len += this.#buf.write(s, this.#len, 'latin1');
  }

  #text(s: string): void {
    this.#room(Buffer.byteLength(s));
    this.#len += this.#buf.write(s, this.#len, 'utf8');
  }
}
