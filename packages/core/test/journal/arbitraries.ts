// fast-check arbitraries for journal entries.
import fc from 'fast-check';
import type { JournalField } from '../../src/journal/index.js';

export const fieldName = fc.stringMatching(/^[A-Z][A-Z0-9_]{0,63}$/);

const textValue = fc.string({ maxLength: 60 }).map((s) => Buffer.from(s, 'utf8'));
const byteValue = fc.uint8Array({ maxLength: 60 }).map((a) => Buffer.from(a));
const tricky = fc.constantFrom(
  Buffer.from('a\nb'),
  Buffer.from([0]),
  Buffer.from([0xff, 0xfe]),
  Buffer.from('\n'),
  Buffer.alloc(0),
  Buffer.from('x=y=z'),
  Buffer.from('\n\n'),
  Buffer.from([0xc3, 0xa9]),
);
export const fieldValue = fc.oneof(textValue, byteValue, tricky);

export const field: fc.Arbitrary<JournalField> = fc.record({ name: fieldName, value: fieldValue });
export const entry = fc.array(field, { minLength: 1, maxLength: 12 });
