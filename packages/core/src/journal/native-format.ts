// journald's native protocol payload: encoding (client side) and parsing (server side).
// Text fields are `NAME=VALUE\n`; a value that is not single-line text goes as
// `NAME\n` + 64-bit little-endian length + bytes + `\n`. One payload may carry several entries,
// separated by an empty line. The parser follows journald (systemd 252, journald-native.c).
import { isUtf8 } from 'node:buffer';
import { JournalError } from './errors.js';
import { assertFieldName, isValidFieldNameBytes, type EntryInput, type EntryObject, type JournalField } from './fields.js';

const NL = Buffer.from('\n');

/** journald's limits (journal-importer.h, 64-bit build). */
export const DATA_SIZE_MAX = 768 * 1024 * 1024;
export const ENTRY_SIZE_MAX = 770 * 1024 * 1024;
export const ENTRY_FIELD_COUNT_MAX = 1024;
/** Default field limit of the export and JSON readers: a stored entry holds journald's own fields on top of a client's 1025. */
export const READER_FIELD_COUNT_MAX = 4096;

export interface NativeLimits {
  /** Largest field (name, `=`, value); larger ones drop the entry. */
  readonly dataSizeMax?: number;
  /** Largest entry (fields plus separators); larger ones are dropped. */
  readonly entrySizeMax?: number;
  /** journald drops an entry once it already holds more than this many fields. */
  readonly fieldCountMax?: number;
}

/** True when a value cannot travel as a `NAME=VALUE\n` line: a newline, a NUL, or bytes that are not UTF-8. */
export function needsBinaryForm(value: Uint8Array): boolean {
  return value.indexOf(0x0a) !== -1 || value.indexOf(0) !== -1 || !isUtf8(value);
}

export interface NamePieces {
  readonly eq: Buffer;
  readonly nl: Buffer;
}

// Names repeat across entries: a name is validated and its `NAME=` built once, then reused.
const namePieces = new Map<string, NamePieces>();
const NAME_CACHE_MAX = 4096;

/** `NAME=` and `NAME\n` of a valid field name (validated once, then cached); throws for an invalid name. */
export function piecesFor(name: string): NamePieces {
  let p = namePieces.get(name);
  if (p === undefined) {
    assertFieldName(name);
    p = { eq: Buffer.from(name + '=', 'latin1'), nl: Buffer.from(name + '\n', 'latin1') };
    if (namePieces.size < NAME_CACHE_MAX) namePieces.set(name, p);
  }
  return p;
}

function le64(n: number): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}

// Appends one field's wire pieces; a byte value is referenced, not copied.
function pushField(out: Uint8Array[], name: string, value: unknown): number {
  const p = piecesFor(name);
  let bytes: Uint8Array;
  let binary: boolean;
  if (typeof value === 'string') {
    // A JS string always encodes to valid UTF-8: only LF and NUL force the binary form.
    bytes = Buffer.from(value, 'utf8');
    binary = value.includes('\n') || value.includes('\0');
  } else if (value instanceof Uint8Array) {
    bytes = value;
    binary = needsBinaryForm(value);
  } else {
    throw new JournalError('LW_ERR_JOURNAL_FIELD_VALUE', `value of field ${name} is not a string or byte array`);
  }
  if (binary) {
    out.push(p.nl, le64(bytes.byteLength), bytes, NL);
    return p.nl.byteLength + 8 + bytes.byteLength + 1;
  }
  out.push(p.eq, bytes, NL);
  return p.eq.byteLength + bytes.byteLength + 1;
}

/**
 * Wire pieces of one entry, ready for a gathered sendmsg, and their total size. Names are checked
 * (LW_ERR_JOURNAL_FIELD_NAME) before anything is sent; byte values are not copied.
 */
export function encodeNativeEntry(entry: EntryInput): { pieces: Uint8Array[]; size: number } {
  const pieces: Uint8Array[] = [];
  let size = 0;
  if (Array.isArray(entry)) {
    for (const f of entry as readonly JournalField[]) size += pushField(pieces, f.name, f.value);
  } else {
    for (const name of Object.keys(entry)) {
      const v = (entry as EntryObject)[name];
      if (v === undefined) continue;
      if (Array.isArray(v)) for (const one of v as readonly unknown[]) size += pushField(pieces, name, one);
      else size += pushField(pieces, name, v);
    }
  }
  if (pieces.length === 0) throw new JournalError('LW_ERR_JOURNAL_EMPTY_ENTRY', 'a journal entry needs at least one field');
  return { pieces, size };
}

/**
 * Wire pieces for an entry given as alternating `NAME=` / value buffers (the libvirt-style iovec):
 * each `NAME=` piece is validated, values are referenced, not copied.
 */
export function encodeNativePieces(pairs: readonly Uint8Array[]): { pieces: Uint8Array[]; size: number } {
  if (pairs.length === 0 || pairs.length % 2 !== 0) {
    throw new JournalError('LW_ERR_JOURNAL_EMPTY_ENTRY', 'pieces must be non-empty NAME= / value pairs');
  }
  const pieces: Uint8Array[] = [];
  let size = 0;
  for (let i = 0; i < pairs.length; i += 2) {
    const key = pairs[i] as Uint8Array;
    const value = pairs[i + 1] as Uint8Array;
    const n = key.byteLength - 1;
    if (n < 1 || key[n] !== 0x3d || !isValidFieldNameBytes(key, 0, n, false)) {
      throw new JournalError('LW_ERR_JOURNAL_FIELD_NAME', `invalid NAME= piece ${JSON.stringify(Buffer.from(key).toString('latin1').slice(0, 80))}`);
    }
    if (needsBinaryForm(value)) {
      pieces.push(key.subarray(0, n), NL, le64(value.byteLength), value, NL);
      size += n + 1 + 8 + value.byteLength + 1;
    } else {
      pieces.push(key, value, NL);
      size += key.byteLength + value.byteLength + 1;
    }
  }
  return { pieces, size };
}

/** Why (part of) a payload was not turned into entries; journald logs these at debug level and moves on. */
export type NativeProblem =
  | 'trailing-noise' // bytes after the last newline
  | 'truncated-binary' // a binary field shorter than its length, or not ended by a newline
  | 'too-many-fields'
  | 'data-too-big'
  | 'entry-too-big'
  | 'invalid-field-name'; // a field dropped for its name (the rest of the entry is kept)

export interface NativeParseResult {
  readonly entries: JournalField[][];
  readonly problems: NativeProblem[];
}

// Field names repeat from entry to entry: each name's string is made once and found again by its
// bytes (a slot per hash), which costs less than decoding it per field (bench/journal-ingest.ts
// in the daemon: ~0.3 µs per entry of three fields).
const NAME_SLOTS = 256;
const slotBytes: (Uint8Array | undefined)[] = new Array<Uint8Array | undefined>(NAME_SLOTS);
const slotNames: string[] = new Array<string>(NAME_SLOTS);

function nameAt(data: Buffer, start: number, end: number, hash: number): string {
  const slot = hash & (NAME_SLOTS - 1);
  const known = slotBytes[slot];
  if (known?.length === end - start) {
    let i = 0;
    while (i < known.length && known[i] === data[start + i]) i++;
    if (i === known.length) return slotNames[slot] as string;
  }
  const name = data.toString('latin1', start, end);
  slotBytes[slot] = new Uint8Array(data.subarray(start, end));
  slotNames[slot] = name;
  return name;
}

const isNameChar = (c: number): boolean => (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x5f;

/**
 * Parses a native-protocol payload the way journald does: fields with invalid names are skipped,
 * lines starting with `.` or `#` are ignored, a malformed tail ends the payload (what came before it
 * is kept), an oversized entry is dropped and ends the payload. Values are views into `data`.
 * `_TRANSPORT` and trusted fields are not added here (see the native server).
 */
export function parseNativeMessage(data: Buffer, limits: NativeLimits = {}): NativeParseResult {
  const dataMax = limits.dataSizeMax ?? DATA_SIZE_MAX;
  const entryMax = limits.entrySizeMax ?? ENTRY_SIZE_MAX;
  const countMax = limits.fieldCountMax ?? ENTRY_FIELD_COUNT_MAX;
  const entries: JournalField[][] = [];
  const problems: NativeProblem[] = [];
  const end = data.length;
  let pos = 0;

  for (;;) {
    const fields: JournalField[] = [];
    let entrySize = 0;
    let dropped = false;
    let stop = false;

    while (pos < end) {
      const e = data.indexOf(0x0a, pos);
      if (e === -1) {
        problems.push('trailing-noise');
        stop = true;
        break;
      }
      if (e === pos) {
        pos += 1;
        break;
      }
      const first = data[pos] as number;
      if (first === 0x2e || first === 0x23) {
        pos = e + 1;
        continue;
      }
      if (fields.length > countMax) {
        problems.push('too-many-fields');
        dropped = true;
        break;
      }
      // The name: name characters up to the first other byte, hashed on the way. A valid name is
      // 1-64 of them, not starting with a digit or `_` (journal_field_valid).
      let n = pos;
      let hash = 0;
      while (n < e && isNameChar(data[n] as number)) hash = (hash * 31 + (data[n++] as number)) | 0;
      const nameOk = n - pos <= 64 && first !== 0x5f && !(first >= 0x30 && first <= 0x39);
      // A text field is a line with a `=`; only this line is searched (never the rest of the payload).
      let q = n;
      while (q < e && data[q] !== 0x3d) q++;
      if (q < e) {
        if (nameOk && q === n && n > pos) {
          const l = e - pos;
          if (l > dataMax) {
            problems.push('data-too-big');
            dropped = true;
            break;
          }
          if (entrySize + l + fields.length + 1 > entryMax) {
            problems.push('entry-too-big');
            dropped = true;
            break;
          }
          fields.push({ name: nameAt(data, pos, q, hash), value: data.subarray(q + 1, e) });
          entrySize += l;
        } else {
          problems.push('invalid-field-name');
        }
        pos = e + 1;
        continue;
      }
      // Binary field: NAME \n le64 data \n
      if (end - pos < e - pos + 1 + 8 + 1) {
        problems.push('truncated-binary');
        stop = true;
        break;
      }
      const big = data.readBigUInt64LE(e + 1);
      if (big > BigInt(dataMax)) {
        problems.push('data-too-big');
        dropped = true;
        break;
      }
      const l = Number(big);
      const total = e - pos + 1 + l;
      if (entrySize + total + fields.length + 1 > entryMax) {
        problems.push('entry-too-big');
        dropped = true;
        break;
      }
      const valueStart = e + 1 + 8;
      if (end - valueStart < l + 1 || data[valueStart + l] !== 0x0a) {
        problems.push('truncated-binary');
        stop = true;
        break;
      }
      if (nameOk && n === e) {
        fields.push({ name: nameAt(data, pos, e, hash), value: data.subarray(valueStart, valueStart + l) });
        entrySize += total;
      } else {
        problems.push('invalid-field-name');
      }
      pos = valueStart + l + 1;
    }

    if (dropped || fields.length === 0) break;
    // journald counts its own _TRANSPORT=journal field against the entry limit.
    if (entrySize + 18 + fields.length + 2 > entryMax) {
      problems.push('entry-too-big');
      break;
    }
    entries.push(fields);
    // journald would re-read the malformed tail as a new entry, find no field and stop there.
    if (stop) break;
  }
  return { entries, problems };
}
