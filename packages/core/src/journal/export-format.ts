// The Journal Export Format (journalctl -o export, systemd-journal-remote input): text fields
// `NAME=VALUE\n`, binary fields `NAME\n` + 64-bit little-endian length + bytes + `\n`, entries
// ended by an empty line.
import { JournalError } from './errors.js';
import { assertFieldName, isPrintableText, isValidFieldNameBytes, type JournalField } from './fields.js';
import { DATA_SIZE_MAX, READER_FIELD_COUNT_MAX, ENTRY_SIZE_MAX } from './native-format.js';

const NL = Buffer.from('\n');

/**
 * Wire pieces of one entry (for a gathered write); values are referenced, not copied. Values that
 * are printable single-line UTF-8 go as text, everything else binary, as journalctl does. Names may
 * be protected (`_PID`) or dunder (`__REALTIME_TIMESTAMP`) fields.
 */
export function encodeExportEntry(fields: readonly JournalField[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const { name, value } of fields) {
    assertFieldName(name, { allowProtected: true });
    if (isPrintableText(value, false)) {
      out.push(Buffer.from(name + '=', 'latin1'), value, NL);
    } else {
      const len = Buffer.allocUnsafe(8);
      len.writeBigUInt64LE(BigInt(value.byteLength));
      out.push(Buffer.from(name + '\n', 'latin1'), len, value, NL);
    }
  }
  out.push(NL);
  return out;
}

/** One entry in export format, as a single buffer. */
export function formatExportEntry(fields: readonly JournalField[]): Buffer {
  return Buffer.concat(encodeExportEntry(fields));
}

export interface ExportReaderOptions {
  /** Largest value; default journald's DATA_SIZE_MAX. */
  readonly dataSizeMax?: number;
  /** Largest entry (sum of field sizes); default journald's ENTRY_SIZE_MAX. */
  readonly entrySizeMax?: number;
  /** Most fields per entry; default 4096. */
  readonly fieldCountMax?: number;
}

const State = { Line: 0, Length: 1, Data: 2, DataEnd: 3 } as const;
type State = (typeof State)[keyof typeof State];

/**
 * Incremental export-format reader: `push()` chunks, get whole entries back; `end()` at EOF.
 * Malformed input throws LW_ERR_JOURNAL_EXPORT_SYNTAX, an oversized field or entry
 * LW_ERR_JOURNAL_LIMIT, before anything is allocated for it. Extra empty lines are ignored.
 */
export class ExportReader {
  readonly #dataMax: number;
  readonly #entryMax: number;
  readonly #countMax: number;
  #state: State = State.Line;
  #lineParts: Buffer[] = [];
  #lineLen = 0;
  #fields: JournalField[] = [];
  #entrySize = 0;
  #binName = '';
  #lenBuf = Buffer.alloc(8);
  #lenHave = 0;
  #data: Buffer = Buffer.alloc(0);
  #dataHave = 0;
  #offset = 0;
  #failed = false;

  constructor(opts: ExportReaderOptions = {}) {
    this.#dataMax = opts.dataSizeMax ?? DATA_SIZE_MAX;
    this.#entryMax = opts.entrySizeMax ?? ENTRY_SIZE_MAX;
    this.#countMax = opts.fieldCountMax ?? READER_FIELD_COUNT_MAX;
  }

  push(chunk: Uint8Array): JournalField[][] {
    if (this.#failed) throw new JournalError('LW_ERR_JOURNAL_CLOSED', 'export reader already ended or failed');
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const out: JournalField[][] = [];
    try {
      this.#consume(buf, out);
    } catch (err) {
      this.#failed = true;
      throw err;
    }
    return out;
  }

  /** EOF: a last entry without its closing empty line is returned; a cut field is an error. */
  end(): JournalField[][] {
    if (this.#failed) throw new JournalError('LW_ERR_JOURNAL_CLOSED', 'export reader already ended or failed');
    this.#failed = true;
    if (this.#state !== State.Line || this.#lineLen > 0) this.#syntax('input ends inside a field');
    if (this.#fields.length === 0) return [];
    return [this.#fields];
  }

  #syntax(what: string): never {
    throw new JournalError('LW_ERR_JOURNAL_EXPORT_SYNTAX', `export format: ${what} (near byte ${this.#offset})`);
  }

  #limit(what: string): never {
    throw new JournalError('LW_ERR_JOURNAL_LIMIT', `export format: ${what} (near byte ${this.#offset})`);
  }

  #addField(name: string, value: Buffer): void {
    if (this.#fields.length >= this.#countMax) this.#limit(`more than ${this.#countMax} fields in an entry`);
    this.#entrySize += name.length + 1 + value.length;
    if (this.#entrySize > this.#entryMax) this.#limit('entry too large');
    this.#fields.push({ name, value });
  }

  #consume(buf: Buffer, out: JournalField[][]): void {
    let p = 0;
    while (p < buf.length) {
      switch (this.#state) {
        case State.Line: {
          const nl = buf.indexOf(0x0a, p);
          const stop = nl === -1 ? buf.length : nl;
          if (this.#lineLen + (stop - p) > this.#dataMax + 66) this.#limit('line too long');
          if (nl === -1) {
            this.#lineParts.push(buf.subarray(p));
            this.#lineLen += buf.length - p;
            this.#offset += buf.length - p;
            return;
          }
          const line = this.#lineParts.length === 0 ? buf.subarray(p, nl) : Buffer.concat([...this.#lineParts, buf.subarray(p, nl)]);
          this.#lineParts = [];
          this.#lineLen = 0;
          this.#offset += nl + 1 - p;
          p = nl + 1;
          this.#line(line, out);
          break;
        }
        case State.Length: {
          const n = Math.min(8 - this.#lenHave, buf.length - p);
          buf.copy(this.#lenBuf, this.#lenHave, p, p + n);
          this.#lenHave += n;
          p += n;
          this.#offset += n;
          if (this.#lenHave < 8) return;
          const len = this.#lenBuf.readBigUInt64LE(0);
          if (len > BigInt(this.#dataMax)) this.#limit(`binary field ${this.#binName} too large`);
          if (this.#entrySize + this.#binName.length + 1 + Number(len) > this.#entryMax) this.#limit('entry too large');
          this.#data = Buffer.allocUnsafe(Number(len));
          this.#dataHave = 0;
          this.#state = this.#data.length === 0 ? State.DataEnd : State.Data;
          break;
        }
        case State.Data: {
          const n = Math.min(this.#data.length - this.#dataHave, buf.length - p);
          buf.copy(this.#data, this.#dataHave, p, p + n);
          this.#dataHave += n;
          p += n;
          this.#offset += n;
          if (this.#dataHave === this.#data.length) this.#state = State.DataEnd;
          break;
        }
        case State.DataEnd: {
          if (buf[p] !== 0x0a) this.#syntax(`binary field ${this.#binName} not followed by a newline`);
          p += 1;
          this.#offset += 1;
          this.#addField(this.#binName, this.#data);
          this.#data = Buffer.alloc(0);
          this.#state = State.Line;
          break;
        }
      }
    }
  }

  #line(line: Buffer, out: JournalField[][]): void {
    if (line.length === 0) {
      if (this.#fields.length > 0) out.push(this.#fields);
      this.#fields = [];
      this.#entrySize = 0;
      return;
    }
    const eq = line.indexOf(0x3d);
    if (eq !== -1) {
      if (!isValidFieldNameBytes(line, 0, eq, true)) this.#syntax('invalid field name');
      // Copied: the line may be a view into a chunk the caller reuses.
      this.#addField(line.toString('latin1', 0, eq), Buffer.from(line.subarray(eq + 1)));
      return;
    }
    if (!isValidFieldNameBytes(line, 0, line.length, true)) this.#syntax('invalid field name');
    this.#binName = line.toString('latin1');
    this.#lenHave = 0;
    this.#state = State.Length;
  }
}

/** Reads a whole export stream held in memory. */
export function parseExport(data: Uint8Array, opts: ExportReaderOptions = {}): JournalField[][] {
  const r = new ExportReader(opts);
  return [...r.push(data), ...r.end()];
}
