import test from 'ava';
import { isPrintableText, isValidFieldName, isValidFieldNameBytes, toFields } from '../../src/journal/index.js';
import { codeOf } from './helpers.js';

// journald's journal_field_valid, case by case: [name, valid as a client field, valid when protected names are allowed].
const NAME_TABLE: [string, boolean, boolean][] = [
  ['MESSAGE', true, true],
  ['A', true, true],
  ['A1', true, true],
  ['A_B_9', true, true],
  ['X'.repeat(64), true, true],
  ['X'.repeat(65), false, false],
  ['', false, false],
  ['1ABC', false, false],
  ['9', false, false],
  ['_PID', false, true],
  ['__CURSOR', false, true],
  ['_', false, true],
  ['message', false, false],
  ['Message', false, false],
  ['MES SAGE', false, false],
  ['MES-SAGE', false, false],
  ['MES.SAGE', false, false],
  ['MESSAGE=', false, false],
  ['MÉSSAGE', false, false],
  ['MES\nSAGE', false, false],
  ['MES\0SAGE', false, false],
];

for (const [name, plain, prot] of NAME_TABLE) {
  test(`field name ${JSON.stringify(name.length > 20 ? `${name.slice(0, 3)}x${name.length}` : name)}: client ${plain}, protected ${prot}`, (t) => {
    t.is(isValidFieldName(name), plain);
    t.is(isValidFieldName(name, { allowProtected: true }), prot);
    const b = Buffer.from(name, 'utf8');
    t.is(isValidFieldNameBytes(b, 0, b.length, false), plain);
    t.is(isValidFieldNameBytes(b, 0, b.length, true), prot);
  });
}

test('toFields validates names with a coded error and keeps order and repeats', (t) => {
  const fields = toFields({ MESSAGE: 'hi', TAG: ['a', Buffer.from([0xff])], SKIP: undefined });
  t.deepEqual(
    fields.map((f) => [f.name, [...f.value]]),
    [['MESSAGE', [0x68, 0x69]], ['TAG', [0x61]], ['TAG', [0xff]]],
  );
  t.is(codeOf(() => toFields({ _PID: '1' })), 'LW_ERR_JOURNAL_FIELD_NAME');
  t.is(codeOf(() => toFields({ lower: 'x' })), 'LW_ERR_JOURNAL_FIELD_NAME');
  t.is(toFields({ _PID: '1' }, { allowProtected: true }).length, 1);
  t.is(codeOf(() => toFields({ A: 5 as unknown as string })), 'LW_ERR_JOURNAL_FIELD_VALUE');
  t.is(codeOf(() => toFields([{ name: 'bad name', value: Buffer.alloc(0) }])), 'LW_ERR_JOURNAL_FIELD_NAME');
});

const PRINTABLE: [string, number[], boolean, boolean][] = [
  ['ascii', [...Buffer.from('hello world')], true, true],
  ['empty', [], true, true],
  ['tab', [0x61, 0x09, 0x62], true, true],
  ['newline', [0x61, 0x0a, 0x62], false, true],
  ['carriage return', [0x61, 0x0d], false, false],
  ['NUL', [0x61, 0x00], false, false],
  ['DEL', [0x7f], false, false],
  ['C1 control U+0085', [0xc2, 0x85], false, false],
  ['e-acute', [0xc3, 0xa9], true, true],
  ['euro', [0xe2, 0x82, 0xac], true, true],
  ['emoji', [0xf0, 0x9f, 0x98, 0x80], true, true],
  ['lone continuation', [0x80], false, false],
  ['truncated sequence', [0xe2, 0x82], false, false],
  ['overlong slash', [0xc0, 0xaf], false, false],
  ['surrogate', [0xed, 0xa0, 0x80], false, false],
  ['noncharacter U+FFFE', [0xef, 0xbf, 0xbe], false, false],
  ['noncharacter U+FDD0', [0xef, 0xb7, 0x90], false, false],
  ['beyond U+10FFFF', [0xf4, 0x90, 0x80, 0x80], false, false],
  ['0xff', [0xff], false, false],
];

for (const [what, bytes, noNl, nl] of PRINTABLE) {
  test(`printable text: ${what}`, (t) => {
    t.is(isPrintableText(Buffer.from(bytes), false), noNl);
    t.is(isPrintableText(Buffer.from(bytes), true), nl);
  });
}
