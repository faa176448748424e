import test from 'ava';
import fc from 'fast-check';
import { ExportReader, formatExportEntry, parseExport, type JournalField } from '../../src/journal/index.js';
import { entry } from './arbitraries.js';
import { codeOf, cutAt, le64, show } from './helpers.js';

const F = (name: string, value: string | Buffer): JournalField => ({ name, value: Buffer.from(value) });

test('writer: printable single-line values as text, the rest binary, entry ended by an empty line', (t) => {
  const out = formatExportEntry([F('__CURSOR', 's=1'), F('_PID', '7'), F('MESSAGE', 'a\nb'), F('X', Buffer.from([0xff])), F('E', '')]);
  t.deepEqual(
    out,
    Buffer.concat([
      Buffer.from('__CURSOR=s=1\n_PID=7\nMESSAGE\n'),
      le64(3),
      Buffer.from('a\nb\nX\n'),
      le64(1),
      Buffer.from([0xff, 0x0a]),
      Buffer.from('E=\n\n'),
    ]),
  );
  t.is(codeOf(() => formatExportEntry([F('bad', 'x')])), 'LW_ERR_JOURNAL_FIELD_NAME');
});

test('property: write then read gives the same entries, however the stream is cut', (t) => {
  fc.assert(
    fc.property(fc.array(entry, { maxLength: 5 }), fc.array(fc.nat({ max: 3000 }), { maxLength: 10 }), (entries, cuts) => {
      const data = Buffer.concat(entries.map((e) => formatExportEntry(e)));
      const r = new ExportReader();
      const got = [...cutAt(data, cuts).flatMap((c) => r.push(c)), ...r.end()];
      return JSON.stringify(got.map(show)) === JSON.stringify(entries.map(show));
    }),
  );
  t.pass();
});

test('reader: a last entry without its empty line is returned; extra empty lines are ignored', (t) => {
  t.deepEqual(parseExport(Buffer.from('\n\nA=1\n\n\n\nB=2\n')).map(show), [show([F('A', '1')]), show([F('B', '2')])]);
  t.deepEqual(parseExport(Buffer.alloc(0)), []);
});

const BAD: [string, Buffer, string][] = [
  ['invalid field name', Buffer.from('a=1\n\n'), 'LW_ERR_JOURNAL_EXPORT_SYNTAX'],
  ['empty field name', Buffer.from('=1\n\n'), 'LW_ERR_JOURNAL_EXPORT_SYNTAX'],
  ['invalid binary field name', Buffer.from('a b\n'), 'LW_ERR_JOURNAL_EXPORT_SYNTAX'],
  ['cut inside a text line', Buffer.from('A=1'), 'LW_ERR_JOURNAL_EXPORT_SYNTAX'],
  ['cut inside a length', Buffer.from('A\n\x01\x00'), 'LW_ERR_JOURNAL_EXPORT_SYNTAX'],
  ['cut inside binary data', Buffer.concat([Buffer.from('A\n'), le64(5), Buffer.from('ab')]), 'LW_ERR_JOURNAL_EXPORT_SYNTAX'],
  ['binary data not ended by a newline', Buffer.concat([Buffer.from('A\n'), le64(1), Buffer.from('ab\n')]), 'LW_ERR_JOURNAL_EXPORT_SYNTAX'],
  ['binary length over the limit', Buffer.concat([Buffer.from('A\n'), Buffer.alloc(8, 0xff)]), 'LW_ERR_JOURNAL_LIMIT'],
];

for (const [what, data, code] of BAD) {
  test(`reader rejects with a code: ${what}`, (t) => {
    t.is(codeOf(() => parseExport(data)), code);
  });
}

test('reader limits: value size, entry size, field count, line length — checked before allocating', (t) => {
  t.is(codeOf(() => parseExport(Buffer.concat([Buffer.from('A\n'), le64(101)]), { dataSizeMax: 100 })), 'LW_ERR_JOURNAL_LIMIT');
  t.is(codeOf(() => parseExport(Buffer.concat([Buffer.from('A\n'), le64(100), Buffer.alloc(100), Buffer.from('\n')]), { dataSizeMax: 100 })), undefined);
  t.is(codeOf(() => parseExport(Buffer.from('A=12345\nB=12345\n\n'), { entrySizeMax: 13 })), 'LW_ERR_JOURNAL_LIMIT');
  t.is(codeOf(() => parseExport(Buffer.from('A=1\nB=2\nC=3\n\n'), { fieldCountMax: 2 })), 'LW_ERR_JOURNAL_LIMIT');
  const r = new ExportReader({ dataSizeMax: 10 });
  t.is(codeOf(() => r.push(Buffer.alloc(200, 0x41))), 'LW_ERR_JOURNAL_LIMIT');
  t.is(codeOf(() => r.push(Buffer.from('\n'))), 'LW_ERR_JOURNAL_CLOSED');
});

test('property: arbitrary bytes are read or rejected with a code, never anything else', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 500 }), (bytes) => {
      const code = codeOf(() => parseExport(Buffer.from(bytes), { dataSizeMax: 1000, entrySizeMax: 2000 }));
      return code === undefined || code === 'LW_ERR_JOURNAL_EXPORT_SYNTAX' || code === 'LW_ERR_JOURNAL_LIMIT';
    }),
  );
  t.pass();
});
