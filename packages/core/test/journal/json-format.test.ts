import test from 'ava';
import fc from 'fast-check';
import { JSON_THRESHOLD, JsonLinesReader, formatJsonEntry, groupFields, parseJsonEntry, type JournalField } from '../../src/journal/index.js';
import { entry } from './arbitraries.js';
import { codeOf, cutAt } from './helpers.js';

const F = (name: string, value: string | Buffer): JournalField => ({ name, value: Buffer.from(value) });
// JSON loses field order across names, so compare name -> values.
const grouped = (fields: readonly JournalField[]): [string, string[]][] =>
  [...groupFields(fields)].map(([n, vs]): [string, string[]] => [n, vs.map((v) => v.toString('hex'))]).sort((a, b) => (a[0] < b[0] ? -1 : 1));

test('writer: strings, byte arrays, repeated fields as arrays, null past the threshold unless all', (t) => {
  const fields = [F('MESSAGE', 'a"b\\c\nd'), F('BIN', Buffer.from([0, 255])), F('TAG', 'x'), F('TAG', Buffer.from([1])), F('_PID', '7')];
  t.is(formatJsonEntry(fields), '{"MESSAGE":"a\\"b\\\\c\\nd","BIN":[0,255],"TAG":["x",[1]],"_PID":"7"}');
  // "M=" + value counts: 4093 bytes of value stay, 4094 make null.
  t.is(formatJsonEntry([F('M', 'x'.repeat(JSON_THRESHOLD - 3))]), `{"M":"${'x'.repeat(JSON_THRESHOLD - 3)}"}`);
  t.is(formatJsonEntry([F('M', 'x'.repeat(JSON_THRESHOLD - 2))]), '{"M":null}');
  t.is(formatJsonEntry([F('M', 'x'.repeat(JSON_THRESHOLD - 2))], { all: true }).length, JSON_THRESHOLD - 2 + 8);
  t.is(codeOf(() => formatJsonEntry([F('m', 'x')])), 'LW_ERR_JOURNAL_FIELD_NAME');
});

test('reader: the shapes journalctl writes', (t) => {
  const e = parseJsonEntry('{ "__CURSOR" : "s=1;i=2", "A":"\\u00e9\\n\\ud83d\\ude00\\/", "B":[1, 2,255], "C":["x",[0],null], "D":null, "E":[] }');
  t.deepEqual(
    e.fields.map((f) => [f.name, f.value.toString('hex')]),
    [
      ['__CURSOR', Buffer.from('s=1;i=2').toString('hex')],
      ['A', Buffer.from('é\n😀/').toString('hex')],
      ['B', '0102ff'],
      ['C', '78'],
      ['C', '00'],
      ['E', ''],
    ],
  );
  t.deepEqual(e.truncated, ['C', 'D']);
  // Raw bytes inside strings are kept as they are, even if they are not UTF-8.
  const raw = parseJsonEntry(Buffer.concat([Buffer.from('{"A":"'), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('"}')]));
  t.is(raw.fields[0]?.value.toString('hex'), 'c328ff');
  t.is(parseJsonEntry('\x1e{}\n').fields.length, 0);
});

const BAD: [string, string][] = [
  ['not an object', '[1]'],
  ['lower-case name', '{"a":"x"}'],
  ['number value', '{"A":1}'],
  ['byte out of range', '{"A":[256]}'],
  ['negative byte', '{"A":[-1]}'],
  ['mixed array', '{"A":[1,"x"]}'],
  ['nested too deep', '{"A":[[[1]]]}'],
  ['lone surrogate', '{"A":"\\ud800"}'],
  ['bad escape', '{"A":"\\x41"}'],
  ['raw control character', '{"A":"a\tb"}'],
  ['unterminated', '{"A":"x"'],
  ['trailing garbage', '{"A":"x"} x'],
  ['missing colon', '{"A" "x"}'],
  ['true', '{"A":true}'],
];

for (const [what, text] of BAD) {
  test(`reader rejects with a code: ${what}`, (t) => {
    t.is(codeOf(() => parseJsonEntry(text)), 'LW_ERR_JOURNAL_JSON_SYNTAX');
  });
}

test('property: write (all) then read gives the same fields, line reader cut anywhere', (t) => {
  fc.assert(
    fc.property(fc.array(entry, { maxLength: 4 }), fc.array(fc.nat({ max: 2000 }), { maxLength: 8 }), (entries, cuts) => {
      const text = Buffer.from(entries.map((e) => formatJsonEntry(e, { all: true }) + '\n').join(''));
      const r = new JsonLinesReader();
      const got = [...cutAt(text, cuts).flatMap((c) => r.push(c)), ...r.end()];
      return JSON.stringify(got.map((g) => grouped(g.fields))) === JSON.stringify(entries.map(grouped)) && got.every((g) => g.truncated.length === 0);
    }),
  );
  t.pass();
});

test('property: what the writer emits is JSON that JSON.parse accepts too', (t) => {
  fc.assert(fc.property(entry, (e) => typeof JSON.parse(formatJsonEntry(e)) === 'object'));
  t.pass();
});

test('property: arbitrary bytes are parsed or rejected with a code', (t) => {
  const jsonish = fc.array(fc.constantFrom(...'{}[]",:0129 nul\\"AZ_\u00e9'.split('')), { maxLength: 60 }).map((a) => a.join(''));
  fc.assert(
    fc.property(fc.oneof(jsonish, fc.string()), (s) => {
      const code = codeOf(() => parseJsonEntry(s));
      return code === undefined || code === 'LW_ERR_JOURNAL_JSON_SYNTAX' || code === 'LW_ERR_JOURNAL_LIMIT';
    }),
  );
  t.pass();
});

test('line reader limits line length and field count', (t) => {
  const r = new JsonLinesReader({ maxLineBytes: 10 });
  t.is(codeOf(() => r.push(Buffer.from('{"A":"12345678"}\n'))), 'LW_ERR_JOURNAL_LIMIT');
  t.is(codeOf(() => parseJsonEntry('{"A":"1","B":"2"}', { fieldCountMax: 1 })), 'LW_ERR_JOURNAL_LIMIT');
});
