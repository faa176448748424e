// The native-protocol encoding of one entry written straight into a caller's buffer: the bytes of
// encodeNativeEntry (native-format.ts), without a Buffer per value or a pieces list. JournalClient
// uses it on its hot path: one write() of one buffer, or one copy-free staging for its sender thread.
import { JournalError } from './errors.js';
import type { EntryInput, EntryObject, JournalField } from './fields.js';
import { needsBinaryForm, piecesFor } from './native-format.js';

/** Fields written by the last encodeNativeEntryInto (journald drops an entry of too many). */
export const encoded = { fields: 0 };

// Writes one field at pos; returns the new end, or -1 when it might not fit before `limit`.
function putField(buf: Buffer, pos: number, limit: number, name: string, value: unknown): number {
  const n = piecesFor(name);
  if (typeof value === 'string') {
    // UTF-8 takes at most 3 bytes per UTF-16 unit; a JS string always encodes to valid UTF-8.
    if (pos + n.nl.length + 8 + value.length * 3 + 1 > limit) return -1;
    if (value.includes('\n') || value.includes('\0')) {
      pos += n.nl.copy(buf, pos);
      const len = buf.write(value, pos + 8, 'utf8');
      buf.writeUInt32LE(len, pos);
      buf.writeUInt32LE(0, pos + 4);
      pos += 8 + len;
    } else {
      pos += n.eq.copy(buf, pos);
      pos += buf.write(value, pos, 'utf8');
    }
    buf[pos] = 0x0a;
    return pos + 1;
  }
  if (!(value instanceof Uint8Array)) {
    throw new JournalError('LW_ERR_JOURNAL_FIELD_VALUE', `value of field ${name} is not a string or byte array`);
  }
  if (pos + n.nl.length + 8 + value.byteLength + 1 > limit) return -1;
  if (needsBinaryForm(value)) {
    pos += n.nl.copy(buf, pos);
    buf.writeUInt32LE(value.byteLength % 0x100000000, pos);
    buf.writeUInt32LE(Math.floor(value.byteLength / 0x100000000), pos + 4);
    pos += 8;
  } else {
    pos += n.eq.copy(buf, pos);
  }
  buf.set(value, pos);
  pos += value.byteLength;
  buf[pos] = 0x0a;
  return pos + 1;
}

/**
 * Writes the entry's wire bytes (exactly those of encodeNativeEntry) into buf from `start`; returns
 * where they end, or -1 when they might not fit (then nothing meaningful was written: use
 * encodeNativeEntry). Names and values are checked as encodeNativeEntry checks them, with the same
 * errors. `encoded.fields` tells how many fields it wrote.
 */
export function encodeNativeEntryInto(entry: EntryInput, buf: Buffer, start: number): number {
  const limit = buf.length;
  let pos = start;
  let fields = 0;
  if (Array.isArray(entry)) {
    for (const f of entry as readonly JournalField[]) {
      pos = putField(buf, pos, limit, f.name, f.value);
      if (pos < 0) return -1;
      fields++;
    }
  } else {
    const obj = entry as EntryObject;
    for (const name of Object.keys(obj)) {
      const v = obj[name];
      if (v === undefined) continue;
      if (Array.isArray(v)) {
        for (const one of v as readonly unknown[]) {
          pos = putField(buf, pos, limit, name, one);
          if (pos < 0) return -1;
          fields++;
        }
      } else {
        pos = putField(buf, pos, limit, name, v);
        if (pos < 0) return -1;
        fields++;
      }
    }
  }
  if (fields === 0) throw new JournalError('LW_ERR_JOURNAL_EMPTY_ENTRY', 'a journal entry needs at least one field');
  encoded.fields = fields;
  return pos;
}
