import test from 'ava';
import fc from 'fast-check';
import {
  encodeNativeEntry,
  encodeNativePieces,
  isValidFieldName,
  needsBinaryForm,
  parseNativeMessage,
  type JournalField,
} from '../../src/journal/index.js';
import { entry, fieldName } from './arbitraries.js';
import { codeOf, le64, show } from './helpers.js';

const wire = (fields: JournalField[]): Buffer => Buffer.concat(encodeNativeEntry(fields).pieces);
const F = (name: string, value: string | Buffer): JournalField => ({ name, value: Buffer.from(value) });

test('text values go as NAME=VALUE lines, others in binary form', (t) => {
  t.is(wire([F('MESSAGE', 'hello'), F('PRIORITY', '6')]).toString('latin1'), 'MESSAGE=hello\nPRIORITY=6\n');
  t.deepEqual(wire([F('M', 'a\nb')]), Buffer.concat([Buffer.from('M\n'), le64(3), Buffer.from('a\nb\n')]));
  t.deepEqual(wire([F('M', Buffer.from([0xff]))]), Buffer.concat([Buffer.from('M\n'), le64(1), Buffer.from([0xff, 0x0a])]));
  t.deepEqual(wire([F('M', Buffer.from('a\0b'))]), Buffer.concat([Buffer.from('M\n'), le64(3), Buffer.from('a\0b\n')]));
  t.true(needsBinaryForm(Buffer.from('x\n')));
  t.false(needsBinaryForm(Buffer.from('héllo')));
  t.is(encodeNativeEntry([F('A', 'xyz')]).size, 6);
});

test('pieces form: NAME= and value buffers are referenced, not copied', (t) => {
  const key = Buffer.from('MESSAGE=');
  const value = Buffer.from('hello');
  const { pieces, size } = encodeNativePieces([key, value, Buffer.from('CODE_LINE='), Buffer.from('1\n2')]);
  t.is(pieces[0], key);
  t.is(pieces[1], value);
  t.is(size, Buffer.concat(pieces).length);
  t.deepEqual(
    show(parseNativeMessage(Buffer.concat(pieces)).entries[0] ?? []),
    show([F('MESSAGE', 'hello'), F('CODE_LINE', '1\n2')]),
  );
  t.is(codeOf(() => encodeNativePieces([Buffer.from('MESSAGE'), value])), 'LW_ERR_JOURNAL_FIELD_NAME');
  t.is(codeOf(() => encodeNativePieces([Buffer.from('_PID='), value])), 'LW_ERR_JOURNAL_FIELD_NAME');
  t.is(codeOf(() => encodeNativePieces([Buffer.from('=')])), 'LW_ERR_JOURNAL_EMPTY_ENTRY');
  t.is(codeOf(() => encodeNativePieces([])), 'LW_ERR_JOURNAL_EMPTY_ENTRY');
  t.is(codeOf(() => encodeNativeEntry([])), 'LW_ERR_JOURNAL_EMPTY_ENTRY');
});

test('property: encode then parse gives the same fields back, several entries per payload', (t) => {
  fc.assert(
    fc.property(fc.array(entry, { minLength: 1, maxLength: 4 }), (entries) => {
      const payload = Buffer.concat(entries.flatMap((e) => [wire(e), Buffer.from('\n')]));
      const r = parseNativeMessage(payload);
      return JSON.stringify(r.entries.map(show)) === JSON.stringify(entries.map(show)) && r.problems.length === 0;
    }),
  );
  t.pass();
});

test('property: any bytes parse without throwing, within the input and the limits', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 400 }), fc.integer({ min: 0, max: 8 }), (bytes, countMax) => {
      const data = Buffer.from(bytes);
      const r = parseNativeMessage(data, { fieldCountMax: countMax, dataSizeMax: 100, entrySizeMax: 200 });
      for (const e of r.entries) {
        if (e.length === 0 || e.length > countMax + 1) return false;
        for (const f of e) {
          if (!isValidFieldName(f.name)) return false;
          if (f.value.buffer !== data.buffer) return false;
        }
      }
      return true;
    }),
  );
  t.pass();
});

test('property: garbage mixed into valid payloads never crashes and never invents fields', (t) => {
  fc.assert(
    fc.property(entry, fc.uint8Array({ maxLength: 40 }), fc.nat(), (e, junk, at) => {
      const good = wire(e);
      const pos = at % (good.length + 1);
      const data = Buffer.concat([good.subarray(0, pos), Buffer.from(junk), good.subarray(pos)]);
      const r = parseNativeMessage(data);
      return r.entries.every((x) => x.every((f) => isValidFieldName(f.name)));
    }),
  );
  t.pass();
});

// The parser as journald's code reads, written plainly (no name cache, no fused scans): the fast
// parser must give the same entries and problems on any input.
function referenceParse(data: Buffer, countMax: number): { entries: string[][]; problems: string[] } {
  const entries: string[][] = [];
  const problems: string[] = [];
  const valid = (a: number, b: number): boolean => isValidFieldName(data.toString('latin1', a, b)) && b - a > 0;
  let pos = 0;
  for (;;) {
    const fields: string[] = [];
    let stop = false;
    let dropped = false;
    while (pos < data.length) {
      const e = data.indexOf(0x0a, pos);
      if (e === -1) {
        problems.push('trailing-noise');
        stop = true;
        break;
      }
      if (e === pos) {
        pos++;
        break;
      }
      if (data[pos] === 0x2e || data[pos] === 0x23) {
        pos = e + 1;
        continue;
      }
      if (fields.length > countMax) {
        problems.push('too-many-fields');
        dropped = true;
        break;
      }
      const q = data.indexOf(0x3d, pos);
      if (q !== -1 && q < e) {
        if (valid(pos, q)) fields.push(data.toString('latin1', pos, e));
        else problems.push('invalid-field-name');
        pos = e + 1;
        continue;
      }
      if (data.length - e - 1 < 9) {
        problems.push('truncated-binary');
        stop = true;
        break;
      }
      const l = Number(data.readBigUInt64LE(e + 1));
      const v = e + 9;
      if (l > 1000 || data.length - v < l + 1 || data[v + l] !== 0x0a) {
        problems.push(l > 1000 ? 'data-too-big' : 'truncated-binary');
        stop = l <= 1000;
        dropped = l > 1000;
        break;
      }
      if (valid(pos, e)) fields.push(`${data.toString('latin1', pos, e)}=${data.toString('latin1', v, v + l)}`);
      else problems.push('invalid-field-name');
      pos = v + l + 1;
    }
    if (dropped || fields.length === 0) break;
    entries.push(fields);
    if (stop) break;
  }
  return { entries, problems };
}

// Lines of valid, invalid and colliding names, text and binary, comments and junk.
const line = fc.oneof(
  fc.tuple(fc.oneof(fieldName, fc.stringMatching(/^[A-Za-z0-9_.#=-]{0,70}$/)), fc.string({ maxLength: 8 })).map(([n, v]) => Buffer.from(`${n}=${v}\n`, 'latin1')),
  fc.tuple(fc.oneof(fieldName, fc.stringMatching(/^[A-Za-z0-9_-]{1,70}$/)), fc.uint8Array({ maxLength: 8 }), fc.integer({ min: -2, max: 2 })).map(([n, v, skew]) =>
    Buffer.concat([Buffer.from(`${n}\n`, 'latin1'), le64(Math.max(0, v.length + skew)), Buffer.from(v), Buffer.from('\n')]),
  ),
  fc.constantFrom(Buffer.from('\n'), Buffer.from('#c\n'), Buffer.from('.x\n'), Buffer.from('JUNK')),
  fc.uint8Array({ maxLength: 12 }).map((a) => Buffer.from(a)),
);

test('property: same entries and problems as a plain reading of journald\'s rules', (t) => {
  fc.assert(
    fc.property(fc.array(line, { maxLength: 30 }), fc.integer({ min: 0, max: 6 }), (lines, countMax) => {
      const data = Buffer.concat(lines);
      const r = parseNativeMessage(data, { fieldCountMax: countMax, dataSizeMax: 1000 });
      const got = { entries: r.entries.map((e) => e.map((f) => `${f.name}=${f.value.toString('latin1')}`)), problems: [...r.problems] };
      t.deepEqual(got, referenceParse(data, countMax));
      return true;
    }),
    { numRuns: 2000 },
  );
});

// What journald does with each malformed payload: [what, payload, expected entries (name=value text), problems].
const CORPUS: [string, Buffer, string[][], string[]][] = [
  ['empty payload', Buffer.alloc(0), [], []],
  ['only a newline', Buffer.from('\n'), [], []],
  ['no trailing newline: the tail is noise, the rest is kept', Buffer.from('A=1\nB=2'), [['A=1']], ['trailing-noise']],
  ['no newline at all', Buffer.from('A=1'), [], ['trailing-noise']],
  ['two entries', Buffer.from('A=1\n\nB=2\n'), [['A=1'], ['B=2']], []],
  ['empty line first ends the payload', Buffer.from('\nA=1\n'), [], []],
  ['comment and control lines are skipped', Buffer.from('#x\nA=1\n.y\nB=2\n'), [['A=1', 'B=2']], []],
  ['invalid names are dropped, the entry kept', Buffer.from('a=1\n_P=2\n1X=3\n=4\nB=5\n'), [['B=5']], ['invalid-field-name', 'invalid-field-name', 'invalid-field-name', 'invalid-field-name']],
  ['an entry of only invalid names is no entry', Buffer.from('a=1\n'), [], ['invalid-field-name']],
  ['value may hold = and NUL', Buffer.from('A=b=c\0d\n'), [['A=b=c\0d']], []],
  ['empty value', Buffer.from('A=\n'), [['A=']], []],
  ['binary field', Buffer.concat([Buffer.from('A\n'), le64(3), Buffer.from('x\ny\n')]), [['A=x\ny']], []],
  ['binary length beyond the payload', Buffer.concat([Buffer.from('B=1\nA\n'), le64(30), Buffer.from('xy\n')]), [['B=1']], ['truncated-binary']],
  ['binary without closing newline', Buffer.concat([Buffer.from('B=1\nA\n'), le64(2), Buffer.from('xyz')]), [['B=1']], ['truncated-binary']],
  ['binary length field cut short', Buffer.concat([Buffer.from('A\n'), Buffer.from([1, 0, 0])]), [], ['truncated-binary']],
  ['huge binary length', Buffer.concat([Buffer.from('B=1\nA\n'), Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), Buffer.from('x\n')]), [], ['data-too-big']],
  ['names: 64 characters at most; any other byte before = makes it invalid', Buffer.from(`${'A'.repeat(64)}=1\n${'B'.repeat(65)}=2\nA-B=3\nAb=4\nA B=5\n`), [[`${'A'.repeat(64)}=1`]], ['invalid-field-name', 'invalid-field-name', 'invalid-field-name', 'invalid-field-name']],
  ['binary field with an invalid name is skipped', Buffer.concat([Buffer.from('a\n'), le64(1), Buffer.from('x\nB=1\n')]), [['B=1']], ['invalid-field-name']],
];

for (const [what, payload, expected, problems] of CORPUS) {
  test(`native corpus: ${what}`, (t) => {
    const r = parseNativeMessage(payload);
    t.deepEqual(
      r.entries.map((e) => e.map((f) => `${f.name}=${f.value.toString('latin1')}`)),
      expected,
    );
    t.deepEqual(r.problems, problems);
  });
}

test('field count: journald keeps 1025 fields and drops an entry with 1026', (t) => {
  const make = (n: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => `F${i}=${i}\n`).join(''));
  t.is(parseNativeMessage(make(1025)).entries[0]?.length, 1025);
  const r = parseNativeMessage(Buffer.concat([make(1026), Buffer.from('\nNEXT=1\n')]));
  t.deepEqual(r.entries, []);
  t.deepEqual(r.problems, ['too-many-fields']);
});

test('size limits: data and entry size as journald counts them', (t) => {
  // "A=" + 8 bytes = 10 bytes of data.
  t.is(parseNativeMessage(Buffer.from('A=12345678\n'), { dataSizeMax: 10 }).entries.length, 1);
  t.deepEqual(parseNativeMessage(Buffer.from('A=123456789\n'), { dataSizeMax: 10 }).problems, ['data-too-big']);
  // entry: 10 data + 1 field + 1 trailer, then _TRANSPORT=journal (18) + 1 more separator.
  t.is(parseNativeMessage(Buffer.from('A=12345678\n'), { entrySizeMax: 10 + 18 + 3 }).entries.length, 1);
  t.deepEqual(parseNativeMessage(Buffer.from('A=12345678\n'), { entrySizeMax: 10 + 18 + 2 }).problems, ['entry-too-big']);
  t.deepEqual(parseNativeMessage(Buffer.from('A=12345678\nB=1\n'), { entrySizeMax: 13 }).problems, ['entry-too-big']);
  const bin = Buffer.concat([Buffer.from('A\n'), le64(20), Buffer.alloc(20, 0x41), Buffer.from('\n')]);
  t.deepEqual(parseNativeMessage(bin, { dataSizeMax: 19 }).problems, ['data-too-big']);
  t.is(parseNativeMessage(bin, { dataSizeMax: 20 }).entries.length, 1);
});
