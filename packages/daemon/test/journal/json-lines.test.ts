// The ingest's JSON-lines fast path must write exactly what core's formatJsonEntry writes.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { formatJsonEntry, parseJsonEntry, type JournalField } from '@logwarden/core/journal';
import { JsonLinesBuffer } from '../../src/journal/json-lines.js';

const f = (name: string, value: string | Buffer): JournalField => ({ name, value: typeof value === 'string' ? Buffer.from(value) : value });

const CASES: JournalField[][] = [
  [f('MESSAGE', 'plain ascii'), f('PRIORITY', '6')],
  [f('MESSAGE', 'quote " backslash \\ tab \t newline \n')],
  [f('MESSAGE', 'utf-8 é 漢字 😀'), f('X', '')],
  [f('BIN', Buffer.from([0, 1, 2, 0xff, 0x80])), f('CTRL', '\x1b[31mred')],
  [f('MALFORMED', Buffer.from([0x41, 0xc3])), f('DEL', '\x7f')],
  [f('TAG', 'a'), f('TAG', 'b'), f('MESSAGE', 'repeated names become arrays')],
  [f('BIG', 'x'.repeat(10_000)), f('SMALL', 'y')],
];

function random(seed: number): JournalField[] {
  const n = 1 + (seed % 9);
  const alphabet = ['A', 'B', 'MESSAGE', 'PRIORITY', 'SYSLOG_IDENTIFIER', 'X_1'];
  return Array.from({ length: n }, (_, i) => {
    const kind = (seed + i) % 4;
    const raw = randomBytes((seed * 7 + i * 13) % 64);
    const value = kind === 0 ? raw : kind === 1 ? Buffer.from(raw.toString('hex')) : kind === 2 ? Buffer.from(raw.toString('latin1'), 'utf8') : Buffer.from(`"${raw.toString('base64')}\\`);
    return f(alphabet[(seed + i * 5) % alphabet.length] as string, value);
  });
}

test('byte-identical to formatJsonEntry (all: true), behind a head of timestamp members', (t) => {
  const buf = new JsonLinesBuffer(16);
  const head = '"__REALTIME_TIMESTAMP":"1","__MONOTONIC_TIMESTAMP":"2"';
  const entries = [...CASES, ...Array.from({ length: 300 }, (_, i) => random(i))];
  let expected = '';
  for (const e of entries) {
    const n = buf.append(head, e);
    const line = `{${head},${formatJsonEntry(e, { all: true }).slice(1)}\n`;
    t.is(n, Buffer.byteLength(line));
    expected += line;
  }
  t.true(buf.view().equals(Buffer.from(expected)));
  const bytes = new JsonLinesBuffer(16);
  for (const e of entries) bytes.append(Buffer.from(head), e);
  t.true(bytes.view().equals(Buffer.from(expected)), 'a head given as bytes writes the same');
  for (const line of buf.view().toString('utf8').split('\n').slice(0, -1)) t.notThrows(() => parseJsonEntry(line));
});

test('all: false nulls large values as journalctl does; truncate undoes an append; clear empties', (t) => {
  const buf = new JsonLinesBuffer();
  const e = [f('BIG', 'x'.repeat(10_000)), f('SMALL', 'y')];
  buf.append('"A":"1"', [f('M', 'first')]);
  const keep = buf.length;
  buf.append('"A":"2"', e);
  buf.truncate(keep);
  t.is(buf.view().toString(), '{"A":"1","M":"first"}\n');
  buf.append('"A":"2"', e, false);
  t.is(buf.view().toString().split('\n')[1], '{"A":"2","BIG":null,"SMALL":"y"}');
  buf.clear();
  t.is(buf.length, 0);
});
