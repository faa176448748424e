// encodeNativeEntryInto writes exactly the bytes of encodeNativeEntry, straight into a buffer.
import test from 'ava';
import fc from 'fast-check';
import { encodeNativeEntry, type EntryInput, type EntryObject } from '../../src/journal/index.js';
import { encodeNativeEntryInto, encoded } from '../../src/journal/native-encode-into.js';
import { entry, fieldName } from './arbitraries.js';
import { codeOf } from './helpers.js';

const reference = (e: EntryInput): Buffer => Buffer.concat(encodeNativeEntry(e).pieces);
const fieldCount = (e: EntryInput): number =>
  Array.isArray(e) ? e.length : Object.values(e as EntryObject).reduce<number>((n, v) => n + (v === undefined ? 0 : Array.isArray(v) ? v.length : 1), 0);

function into(e: EntryInput, size: number, start = 0): Buffer | null {
  const buf = Buffer.alloc(size, 0xaa);
  const end = encodeNativeEntryInto(e, buf, start);
  return end < 0 ? null : buf.subarray(start, end);
}

// Strings as callers pass them: text, newlines, NULs, non-ASCII, astral characters.
const stringValue = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.constantFrom('a\nb', '\0', 'x=y', '', 'héllo ✓ 😀', '\n', 'tab\there', 'lone \ud800 surrogate'),
);
const objectEntry: fc.Arbitrary<EntryObject> = fc.dictionary(
  fieldName,
  fc.oneof(stringValue, fc.uint8Array({ maxLength: 30 }), fc.array(fc.oneof(stringValue, fc.uint8Array({ maxLength: 10 })), { maxLength: 3 })),
  { minKeys: 1, maxKeys: 8 },
);

test('property: the same bytes as encodeNativeEntry, list and object forms, at any offset', (t) => {
  fc.assert(
    fc.property(fc.oneof(entry, objectEntry), fc.nat(100), (e, start) => {
      let expected: Buffer;
      try {
        expected = reference(e);
      } catch {
        return true; // an object whose values are all empty arrays: checked below
      }
      const got = into(e, start + expected.length * 3 + 1024, start);
      return got !== null && got.equals(expected) && encoded.fields === fieldCount(e);
    }),
  );
  t.pass();
});

test('the field count, binary lengths and a buffer too small', (t) => {
  const e = { MESSAGE: 'two\nlines', TAG: ['a', 'b'], BIN: Buffer.from([0, 1, 2]) };
  const bytes = into(e, 4096);
  t.deepEqual(bytes, reference(e));
  t.is(encoded.fields, 4);
  t.is(into(e, 10), null, 'does not fit: -1, the caller uses the pieces');
  t.is(into({ MESSAGE: 'x'.repeat(1000) }, 1500), null, 'a string is checked at 3 bytes per unit');
  t.deepEqual(into({ MESSAGE: 'x'.repeat(1000) }, 3100), reference({ MESSAGE: 'x'.repeat(1000) }));
});

test('the same coded errors as encodeNativeEntry', (t) => {
  const buf = Buffer.alloc(4096);
  const cases: EntryInput[] = [{}, { message: 'x' }, { _PID: '1' }, { A: 5 as unknown as string }, [{ name: 'A', value: 7 as unknown as Buffer }], { EMPTY: [] }];
  for (const e of cases) {
    t.is(codeOf(() => encodeNativeEntryInto(e, buf, 0)), codeOf(() => encodeNativeEntry(e)), JSON.stringify(e));
    t.not(codeOf(() => encodeNativeEntryInto(e, buf, 0)), undefined);
  }
});
