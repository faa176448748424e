// journalctl's JSON output (-o json): one object per entry, printable UTF-8 values as strings,
// other values as arrays of byte numbers, repeated fields as arrays of values, values too large
// for journalctl's default view as null.
import { JournalError } from './errors.js';
import { assertFieldName, groupFields, isPrintableText, isValidFieldNameBytes, type JournalField } from './fields.js';
import { READER_FIELD_COUNT_MAX } from './native-format.js';

/** journalctl prints null instead of a field whose `NAME=VALUE` is this long or longer, unless --all. */
export const JSON_THRESHOLD = 4096;

export interface JsonWriteOptions {
  /** Like `journalctl --all`: never replace large values by null. Default false, as journalctl. */
  readonly all?: boolean;
}

function jsonValue(name: string, value: Buffer, all: boolean): string {
  if (!all && name.length + 1 + value.length >= JSON_THRESHOLD) return 'null';
  if (isPrintableText(value, true)) return JSON.stringify(value.toString('utf8'));
  let s = '[';
  for (let i = 0; i < value.length; i++) s += (i === 0 ? '' : ',') + String(value[i]);
  return s + ']';
}

/** One entry as a journalctl-style JSON object (no trailing newline). */
export function formatJsonEntry(fields: readonly JournalField[], opts: JsonWriteOptions = {}): string {
  const all = opts.all === true;
  const parts: string[] = [];
  for (const [name, values] of groupFields(fields)) {
    assertFieldName(name, { allowProtected: true });
    const v = values.length === 1 ? jsonValue(name, values[0] as Buffer, all) : '[' + values.map((x) => jsonValue(name, x, all)).join(',') + ']';
    parts.push(`"${name}":${v}`);
  }
  return '{' + parts.join(',') + '}';
}

export interface JsonEntry {
  /** Fields in the order of the object; a repeated field appears once per value. */
  readonly fields: JournalField[];
  /** Names whose value (or one of whose values) was null: too large for the producer's view. */
  readonly truncated: string[];
}

export interface JsonReadOptions {
  /** Most fields per entry (repeats count); default 4096. */
  readonly fieldCountMax?: number;
}

// A byte-level parser for the JSON subset journalctl writes. It works on bytes so that values keep
// exactly the bytes journalctl wrote (JSON.parse would decode to UTF-16 and lose malformed UTF-8),
// and it allocates nothing larger than its input.
class Parser {
  readonly #b: Buffer;
  #p = 0;
  readonly #countMax: number;

  constructor(b: Buffer, countMax: number) {
    this.#b = b;
    this.#countMax = countMax;
  }

  fail(what: string): never {
    throw new JournalError('LW_ERR_JOURNAL_JSON_SYNTAX', `journal JSON: ${what} at byte ${this.#p}`);
  }

  ws(): void {
    for (;;) {
      const c = this.#b[this.#p];
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) this.#p++;
      else return;
    }
  }

  expect(c: number): void {
    if (this.#b[this.#p] !== c) this.fail(`expected '${String.fromCharCode(c)}'`);
    this.#p++;
  }

  peek(): number | undefined {
    return this.#b[this.#p];
  }

  entry(): JsonEntry {
    const fields: JournalField[] = [];
    const truncated: string[] = [];
    this.ws();
    if (this.#b[this.#p] === 0x1e) this.#p++; // json-seq record separator
    this.ws();
    this.expect(0x7b);
    this.ws();
    if (this.peek() === 0x7d) {
      this.#p++;
    } else {
      for (;;) {
        this.ws();
        const nameBytes = this.string();
        if (!isValidFieldNameBytes(nameBytes, 0, nameBytes.length, true)) this.fail('invalid field name');
        const name = nameBytes.toString('latin1');
        this.ws();
        this.expect(0x3a);
        this.ws();
        this.value(name, fields, truncated);
        this.ws();
        const c = this.peek();
        this.#p++;
        if (c === 0x7d) break;
        if (c !== 0x2c) this.fail("expected ',' or '}'");
      }
    }
    this.ws();
    if (this.#p !== this.#b.length) this.fail('trailing bytes after the object');
    return { fields, truncated };
  }

  #push(fields: JournalField[], name: string, value: Buffer): void {
    if (fields.length >= this.#countMax) throw new JournalError('LW_ERR_JOURNAL_LIMIT', `journal JSON: more than ${this.#countMax} fields`);
    fields.push({ name, value });
  }

  value(name: string, fields: JournalField[], truncated: string[]): void {
    const c = this.peek();
    if (c === 0x22) {
      this.#push(fields, name, this.string());
    } else if (c === 0x6e) {
      this.null();
      if (!truncated.includes(name)) truncated.push(name);
    } else if (c === 0x5b) {
      const open = this.#p;
      this.#p++;
      this.ws();
      const first = this.peek();
      if (first === 0x5d) {
        this.#p++;
        this.#push(fields, name, Buffer.alloc(0));
      } else if (first !== undefined && first >= 0x30 && first <= 0x39) {
        this.#p = open;
        this.#push(fields, name, this.bytes());
      } else {
        for (;;) {
          this.ws();
          const e = this.peek();
          if (e === 0x22) this.#push(fields, name, this.string());
          else if (e === 0x6e) {
            this.null();
            if (!truncated.includes(name)) truncated.push(name);
          } else if (e === 0x5b) this.#push(fields, name, this.bytes());
          else this.fail('expected a string, null or byte array');
          this.ws();
          const d = this.peek();
          this.#p++;
          if (d === 0x5d) break;
          if (d !== 0x2c) this.fail("expected ',' or ']'");
        }
      }
    } else {
      this.fail('expected a string, null or array');
    }
  }

  null(): void {
    if (this.#b.toString('latin1', this.#p, this.#p + 4) !== 'null') this.fail('expected null');
    this.#p += 4;
  }

  /** `[n, n, ...]` with n in 0-255. */
  bytes(): Buffer {
    this.expect(0x5b);
    // Numbers hold no ']': the array's own text bounds the allocation (one byte per "n,").
    const close = this.#b.indexOf(0x5d, this.#p);
    if (close === -1) this.fail('unterminated array');
    let count = 0;
    const out = Buffer.allocUnsafe(Math.ceil((close - this.#p) / 2) + 1);
    this.ws();
    if (this.peek() === 0x5d) {
      this.#p++;
      return Buffer.alloc(0);
    }
    for (;;) {
      this.ws();
      let v = 0;
      let digits = 0;
      for (;;) {
        const c = this.peek();
        if (c === undefined || c < 0x30 || c > 0x39) break;
        v = v * 10 + (c - 0x30);
        digits++;
        this.#p++;
        if (digits > 3) this.fail('byte value out of range');
      }
      if (digits === 0 || v > 255) this.fail('expected a byte value 0-255');
      out[count++] = v;
      this.ws();
      const d = this.peek();
      this.#p++;
      if (d === 0x5d) break;
      if (d !== 0x2c) this.fail("expected ',' or ']'");
    }
    return Buffer.from(out.subarray(0, count));
  }

  /** A JSON string, unescaped, as the bytes it denotes (\\u escapes as UTF-8). */
  string(): Buffer {
    this.expect(0x22);
    const b = this.#b;
    const start = this.#p;
    const q = b.indexOf(0x22, start);
    const bs = b.indexOf(0x5c, start);
    if (q !== -1 && (bs === -1 || bs > q)) {
      // Fast path: no escapes.
      for (let i = start; i < q; i++) if ((b[i] ?? 0) < 0x20) this.fail('control character in string');
      this.#p = q + 1;
      return Buffer.from(b.subarray(start, q));
    }
    const out = Buffer.allocUnsafe(b.length - start);
    let n = 0;
    for (;;) {
      const c = b[this.#p];
      if (c === undefined) this.fail('unterminated string');
      this.#p++;
      if (c === 0x22) break;
      if (c < 0x20) this.fail('control character in string');
      if (c !== 0x5c) {
        out[n++] = c;
        continue;
      }
      const e = b[this.#p++];
      switch (e) {
        case 0x22: case 0x5c: case 0x2f: out[n++] = e; break;
        case 0x62: out[n++] = 0x08; break;
        case 0x66: out[n++] = 0x0c; break;
        case 0x6e: out[n++] = 0x0a; break;
        case 0x72: out[n++] = 0x0d; break;
        case 0x74: out[n++] = 0x09; break;
        case 0x75: {
          let cp = this.hex4();
          if (cp >= 0xd800 && cp <= 0xdbff) {
            if (b[this.#p] !== 0x5c || b[this.#p + 1] !== 0x75) this.fail('lone surrogate escape');
            this.#p += 2;
            const lo = this.hex4();
            if (lo < 0xdc00 || lo > 0xdfff) this.fail('lone surrogate escape');
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          } else if (cp >= 0xdc00 && cp <= 0xdfff) {
            this.fail('lone surrogate escape');
          }
          n += out.write(String.fromCodePoint(cp), n, 'utf8');
          break;
        }
        default:
          this.fail('bad escape');
      }
    }
    return Buffer.from(out.subarray(0, n));
  }

  hex4(): number {
    const s = this.#b.toString('latin1', this.#p, this.#p + 4);
    if (!/^[0-9a-fA-F]{4}$/.test(s)) this.fail('bad \\u escape');
    this.#p += 4;
    return parseInt(s, 16);
  }
}

/** Parses one JSON object as journalctl writes it (one line of `-o json`, or a json-seq record). */
export function parseJsonEntry(input: Uint8Array | string, opts: JsonReadOptions = {}): JsonEntry {
  const b = typeof input === 'string' ? Buffer.from(input, 'utf8') : Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  return new Parser(b, opts.fieldCountMax ?? READER_FIELD_COUNT_MAX).entry();
}

function isBlank(b: Buffer): boolean {
  for (const c of b) if (c !== 0x20 && c !== 0x09 && c !== 0x0d && c !== 0x0a && c !== 0x1e) return false;
  return true;
}

export interface JsonLinesReaderOptions extends JsonReadOptions {
  /** Longest line accepted (bytes); default 64 MiB. */
  readonly maxLineBytes?: number;
}

/** Incremental reader of `journalctl -o json` output: one object per line, blank lines skipped. */
export class JsonLinesReader {
  readonly #opts: JsonLinesReaderOptions;
  readonly #max: number;
  #parts: Buffer[] = [];
  #len = 0;
  #done = false;

  constructor(opts: JsonLinesReaderOptions = {}) {
    this.#opts = opts;
    this.#max = opts.maxLineBytes ?? 64 * 1024 * 1024;
  }

  push(chunk: Uint8Array): JsonEntry[] {
    if (this.#done) throw new JournalError('LW_ERR_JOURNAL_CLOSED', 'JSON reader already ended or failed');
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const out: JsonEntry[] = [];
    let p = 0;
    try {
      for (;;) {
        const nl = buf.indexOf(0x0a, p);
        const stop = nl === -1 ? buf.length : nl;
        if (this.#len + stop - p > this.#max) throw new JournalError('LW_ERR_JOURNAL_LIMIT', `journal JSON: line longer than ${this.#max} bytes`);
        if (nl === -1) {
          if (p < buf.length) {
            this.#parts.push(Buffer.from(buf.subarray(p)));
            this.#len += buf.length - p;
          }
          return out;
        }
        const line = this.#parts.length === 0 ? buf.subarray(p, nl) : Buffer.concat([...this.#parts, buf.subarray(p, nl)]);
        this.#parts = [];
        this.#len = 0;
        p = nl + 1;
        if (!isBlank(line)) out.push(parseJsonEntry(line, this.#opts));
      }
    } catch (err) {
      this.#done = true;
      throw err;
    }
  }

  end(): JsonEntry[] {
    if (this.#done) throw new JournalError('LW_ERR_JOURNAL_CLOSED', 'JSON reader already ended or failed');
    this.#done = true;
    const line = Buffer.concat(this.#parts);
    this.#parts = [];
    return isBlank(line) ? [] : [parseJsonEntry(line, this.#opts)];
  }
}
