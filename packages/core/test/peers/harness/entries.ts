// Comparing entries across peers: the journal stores each entry's fields as a set (it drops exact
// duplicates and keeps its own order), so entries are compared as sorted sets of NAME=VALUE.
import { JsonLinesReader, type JournalField, type JsonEntry } from '../../../src/journal/index.js';

/** Sorted unique `NAME=<hex value>` of the fields a client can set (no `_` or `__` names). */
export function userSet(fields: readonly JournalField[]): string[] {
  return fieldSet(fields.filter((f) => !f.name.startsWith('_')));
}

/** Sorted unique `NAME=<hex value>` of all fields. */
export function fieldSet(fields: readonly JournalField[]): string[] {
  return [...new Set(fields.map((f) => `${f.name}=${f.value.toString('hex')}`))].sort();
}

/** Short readable form of a field set for assertion messages. */
export function brief(set: readonly string[]): string[] {
  return set.map((s) => {
    const eq = s.indexOf('=');
    const text = Buffer.from(s.slice(eq + 1), 'hex').toString('latin1');
    return `${s.slice(0, eq)}=${JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}…(${text.length})` : text)}`;
  });
}

export function readJsonLines(out: Buffer): JsonEntry[] {
  const r = new JsonLinesReader({ maxLineBytes: 256 * 1024 * 1024 });
  return [...r.push(out), ...r.end()];
}

export function value(fields: readonly JournalField[], name: string): Buffer | undefined {
  return fields.find((f) => f.name === name)?.value;
}
