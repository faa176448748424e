// The ingest hot path: entries appended as journalctl JSON lines straight into a reusable byte
// buffer. Output is byte-identical to core's formatJsonEntry({ all: true }) (test/journal/
// json-lines.test.ts compares them); it only skips the generic path's intermediate strings for the
// common case: ASCII values copied between quotes as they are. Measured with bench/journal-ingest.ts:
// formatJsonEntry + string joins held ingest to ~70k entries/s where raw receiving does ~135k/s.
import { formatJsonEntry, isPrintableText, type JournalField } from '@logwarden/core/journal';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

// `,"NAME":` per field name, built once: names repeat from entry to entry.
const memberPrefixes = new Map<string, Buffer>();
const PREFIX_CACHE_MAX = 4096;

function memberPrefix(name: string): Buffer {
  let p = memberPrefixes.get(name);
  if (p === undefined) {
    p = Buffer.from(`,${JSON.stringify(name)}:`, 'utf8');
    if (memberPrefixes.size < PREFIX_CACHE_MAX) memberPrefixes.set(name, p);
  }
  return p;
}

// Below this many bytes a copy loop costs less than a call into Buffer's native copy.
const SMALL_COPY = 64;

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
   * Appends `{<head>,<fields>}\n`: `head` is JSON members already formatted (`"A":"1","B":"2"`),
   * as a string or as bytes.
   * With `all` false, values of 4096 bytes or more are null, as journalctl prints them. Returns the
   * line's length in bytes.
   */
  append(head: string | Uint8Array, fields: readonly JournalField[], all = true): number {
    const start = this.#len;
    if (!all || fields.length > 64 || hasRepeatedName(fields)) {
      // Repeated names become arrays, nulls need the threshold: the general formatter does both.
      const body = formatJsonEntry(fields, { all });
      const headText = typeof head === 'string' ? head : Buffer.from(head.buffer, head.byteOffset, head.byteLength).toString('utf8');
      this.#text(`{${headText}${body.length > 2 ? ',' : ''}${body.slice(1)}\n`);
      return this.#len - start;
    }
    this.#room(1);
    this.#buf[this.#len++] = 0x7b;
    if (typeof head === 'string') this.#text(head);
    else this.#bytes(head);
    for (const f of fields) {
      const v = f.value;
      this.#bytes(memberPrefix(f.name));
      if (this.#quotedAscii(v)) {
        continue;
      } else if (isPrintableText(v, true)) {
        this.#text(JSON.stringify(v.toString('utf8')));
      } else {
        this.#ascii(`[${v.join(',')}]`);
      }
    }
    this.#room(2);
    this.#buf[this.#len++] = 0x7d;
    this.#buf[this.#len++] = 0x0a;
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

  // Copies `"v"` when JSON.stringify would print v unchanged between quotes (printable ASCII
  // without `"` and `\`), checking and copying in one pass; else writes nothing and says so.
  #quotedAscii(v: Buffer): boolean {
    this.#room(v.length + 2);
    const buf = this.#buf;
    let o = this.#len;
    buf[o++] = QUOTE;
    for (let i = 0; i < v.length; i++) {
      const c = v[i] as number;
      if (c < 0x20 || c > 0x7e || c === QUOTE || c === BACKSLASH) return false;
      buf[o++] = c;
    }
    buf[o++] = QUOTE;
    this.#len = o;
    return true;
  }

  #bytes(src: Uint8Array): void {
    const n = src.length;
    this.#room(n);
    if (n < SMALL_COPY) {
      const buf = this.#buf;
      let o = this.#len;
      for (let i = 0; i < n; i++) buf[o++] = src[i] as number;
    } else {
      this.#buf.set(src, this.#len);
    }
    this.#len += n;
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
