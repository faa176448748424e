// Journal entries as lists of fields, and the rules journald applies to field names and text.
import { JournalError } from './errors.js';

/** One field of an entry. Entries keep field order and may repeat a name. */
export interface JournalField {
  readonly name: string;
  readonly value: Buffer;
}

export type FieldValue = string | Uint8Array;

/** The convenient form: `{ MESSAGE: 'x', PRIORITY: '6', TAG: ['a', 'b'] }` (arrays repeat the field). */
export type EntryObject = Readonly<Record<string, FieldValue | readonly FieldValue[] | undefined>>;

export type EntryInput = EntryObject | readonly JournalField[];

export interface FieldNameOptions {
  /** Accept names starting with `_` (trusted fields journald adds itself, `__CURSOR` in exports). */
  readonly allowProtected?: boolean;
}

/** journald's rule (journal_field_valid): 1-64 bytes of A-Z 0-9 _, no leading digit, no leading _ unless protected names are allowed. */
export function isValidFieldNameBytes(buf: Uint8Array, start: number, end: number, allowProtected: boolean): boolean {
  const len = end - start;
  if (len <= 0 || len > 64) return false;
  const first = buf[start] ?? 0;
  if (first >= 0x30 && first <= 0x39) return false;
  if (first === 0x5f && !allowProtected) return false;
  for (let i = start; i < end; i++) {
    const c = buf[i] ?? 0;
    if (!((c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x5f)) return false;
  }
  return true;
}

export function isValidFieldName(name: string, opts: FieldNameOptions = {}): boolean {
  if (name.length === 0 || name.length > 64) return false;
  const first = name.charCodeAt(0);
  if (first >= 0x30 && first <= 0x39) return false;
  if (first === 0x5f && opts.allowProtected !== true) return false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (!((c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x5f)) return false;
  }
  return true;
}

export function assertFieldName(name: string, opts: FieldNameOptions = {}): void {
  if (!isValidFieldName(name, opts)) {
    throw new JournalError('LW_ERR_JOURNAL_FIELD_NAME', `invalid journal field name ${JSON.stringify(name.slice(0, 80))}`);
  }
}

function valueToBuffer(name: string, value: unknown): Buffer {
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  if (value instanceof Uint8Array) return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  throw new JournalError('LW_ERR_JOURNAL_FIELD_VALUE', `value of field ${name} is not a string or byte array`);
}

/** Normalises an entry to a validated field list. Byte arrays are used as they are (not copied). */
export function toFields(entry: EntryInput, opts: FieldNameOptions = {}): JournalField[] {
  const out: JournalField[] = [];
  if (Array.isArray(entry)) {
    for (const f of entry as readonly JournalField[]) {
      assertFieldName(f.name, opts);
      out.push({ name: f.name, value: valueToBuffer(f.name, f.value) });
    }
    return out;
  }
  for (const [name, v] of Object.entries(entry as EntryObject)) {
    if (v === undefined) continue;
    assertFieldName(name, opts);
    if (Array.isArray(v)) {
      for (const one of v as readonly FieldValue[]) out.push({ name, value: valueToBuffer(name, one) });
    } else {
      out.push({ name, value: valueToBuffer(name, v) });
    }
  }
  return out;
}

/** Groups values by name, in order of first appearance. */
export function groupFields(fields: readonly JournalField[]): Map<string, Buffer[]> {
  const map = new Map<string, Buffer[]>();
  for (const f of fields) {
    const list = map.get(f.name);
    if (list) list.push(f.value);
    else map.set(f.name, [f.value]);
  }
  return map;
}

/** First value of a field as text, or undefined. */
export function fieldText(fields: readonly JournalField[], name: string): string | undefined {
  for (const f of fields) if (f.name === name) return f.value.toString('utf8');
  return undefined;
}

// systemd's unichar_is_valid: no surrogates, no U+FDD0..U+FDEF, no U+xxFFFE/U+xxFFFF.
function codepointAllowed(cp: number): boolean {
  if (cp >= 0xd800 && cp <= 0xdfff) return false;
  if (cp >= 0xfdd0 && cp <= 0xfdef) return false;
  if ((cp & 0xfffe) === 0xfffe) return false;
  return cp < 0x110000;
}

/**
 * The test journalctl uses to pick between text and binary output (utf8_is_printable): valid UTF-8,
 * no control characters except TAB (and LF when allowed). Stricter than systemd on malformed
 * continuation bytes so that everything called text here is valid UTF-8 for any reader.
 */
export function isPrintableText(buf: Uint8Array, allowNewline: boolean, start = 0, end = buf.length): boolean {
  let i = start;
  while (i < end) {
    const c = buf[i] ?? 0;
    if (c < 0x80) {
      if (c < 0x20 && c !== 0x09 && !(allowNewline && c === 0x0a)) return false;
      if (c === 0x7f) return false;
      i++;
      continue;
    }
    let need: number;
    let cp: number;
    if ((c & 0xe0) === 0xc0) { need = 1; cp = c & 0x1f; }
    else if ((c & 0xf0) === 0xe0) { need = 2; cp = c & 0x0f; }
    else if ((c & 0xf8) === 0xf0) { need = 3; cp = c & 0x07; }
    else return false;
    if (i + need >= end) return false;
    for (let k = 1; k <= need; k++) {
      const cc = buf[i + k] ?? 0;
      if ((cc & 0xc0) !== 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    const min = need === 1 ? 0x80 : need === 2 ? 0x800 : 0x10000;
    if (cp < min || !codepointAllowed(cp)) return false;
    if (cp >= 0x80 && cp <= 0x9f) return false;
    i += need + 1;
  }
  return true;
}
