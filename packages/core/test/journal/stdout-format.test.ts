import test from 'ava';
import fc from 'fast-check';
import { StdoutStreamParser, isValidUnitName, stdoutRecordFields, type StdoutRecord } from '../../src/journal/index.js';
import { codeOf, cutAt } from './helpers.js';

const HEADER = 'myid\nfoo.service\n6\n1\n0\n0\n0\n';
const msgs = (rs: StdoutRecord[]): [string, number, string][] => rs.map((r) => [r.message.toString('latin1'), r.priority, r.lineBreak]);

test('header is parsed line by line; records split at newline and NUL; level prefixes', (t) => {
  const p = new StdoutStreamParser();
  t.deepEqual(p.push(Buffer.from(HEADER.slice(0, 10))), []);
  t.is(p.header, null);
  const out = p.push(Buffer.from(HEADER.slice(10) + 'one\n<3>two\0<7>three\n<8>four\n<03>five\n\n<5>\nsix'));
  t.deepEqual(p.header, {
    identifier: 'myid',
    unit: 'foo.service',
    priority: 6,
    levelPrefix: true,
    forwardToSyslog: false,
    forwardToKmsg: false,
    forwardToConsole: false,
  });
  t.deepEqual(msgs(out), [
    ['one', 6, 'newline'],
    ['two', 3, 'nul'],
    ['three', 7, 'newline'],
    ['<8>four', 6, 'newline'],
    ['five', 3, 'newline'],
  ]);
  t.deepEqual(msgs(p.end()), [['six', 6, 'eof']]);
  t.is(codeOf(() => p.push(Buffer.from('x'))), 'LW_ERR_JOURNAL_CLOSED');
});

test('trailing blanks are stripped, leading ones kept; a record of only blanks is skipped', (t) => {
  const p = new StdoutStreamParser();
  const out = p.push(Buffer.from(HEADER + '  a b \t\r\n<4>  \n \t\nx\r\0'));
  t.deepEqual(msgs(out), [['  a b', 6, 'newline'], ['x', 6, 'nul']]);
});

test('without level_prefix a <N> stays in the message; facility is kept', (t) => {
  const p = new StdoutStreamParser();
  const out = p.push(Buffer.from('\n\n30\nno\nfalse\nOFF\nN\n<1>x\n'));
  t.is(p.header?.identifier, null);
  t.is(p.header?.unit, null);
  t.deepEqual(msgs(out), [['<1>x', 30, 'newline']]);
});

test('records are cut at LineMax; a newline right after the cut makes an empty record that is skipped', (t) => {
  const p = new StdoutStreamParser({ lineMax: 100 });
  const out = p.push(Buffer.from(HEADER + 'a'.repeat(250) + '\n' + 'b'.repeat(100) + '\nc\n'));
  t.deepEqual(
    out.map((r) => [r.message.length, r.lineBreak]),
    [[100, 'line-max'], [100, 'line-max'], [50, 'newline'], [100, 'line-max'], [1, 'newline']],
  );
});

test('header errors are coded: bad priority, bad boolean, unterminated or over-long header line', (t) => {
  t.is(codeOf(() => new StdoutStreamParser().push(Buffer.from('id\n\nx\n'))), 'LW_ERR_JOURNAL_STREAM_HEADER');
  t.is(codeOf(() => new StdoutStreamParser().push(Buffer.from('id\n\n1000\n'))), 'LW_ERR_JOURNAL_STREAM_HEADER');
  t.is(codeOf(() => new StdoutStreamParser().push(Buffer.from('id\n\n6\nmaybe\n'))), 'LW_ERR_JOURNAL_STREAM_HEADER');
  t.is(codeOf(() => new StdoutStreamParser().push(Buffer.from('id\0'))), 'LW_ERR_JOURNAL_STREAM_HEADER');
  t.is(codeOf(() => new StdoutStreamParser().push(Buffer.from('x'.repeat(255)))), 'LW_ERR_JOURNAL_STREAM_HEADER');
  t.is(new StdoutStreamParser().push(Buffer.from('x'.repeat(254) + '\n')).length, 0);
  const p = new StdoutStreamParser();
  p.push(Buffer.from('id\n'));
  t.is(codeOf(() => p.end()), undefined);
  const q = new StdoutStreamParser();
  q.push(Buffer.from('id'));
  t.is(codeOf(() => q.end()), 'LW_ERR_JOURNAL_STREAM_HEADER');
  t.is(codeOf(() => new StdoutStreamParser({ lineMax: 10 })), 'LW_ERR_JOURNAL_LIMIT');
});

test('a write from another pid flushes the half line of the previous one', (t) => {
  const a = { pid: 10, uid: 0, gid: 0 };
  const b = { pid: 11, uid: 0, gid: 0 };
  const p = new StdoutStreamParser({ creds: a });
  t.deepEqual(msgs(p.push(Buffer.from(HEADER + 'hal'), a)), []);
  const out = p.push(Buffer.from('other\n'), b);
  t.deepEqual(msgs(out), [['hal', 6, 'pid-change'], ['other', 6, 'newline']]);
  t.deepEqual(out.map((r) => r.creds?.pid), [10, 11]);
});

test('stdoutRecordFields gives the fields journald stores', (t) => {
  const p = new StdoutStreamParser();
  const [r] = p.push(Buffer.from('tool\n\n30\n1\n0\n0\n0\n<2>boom\0'), { pid: 5, uid: 6, gid: 7 });
  if (!r) return t.fail();
  const fields = stdoutRecordFields(p, r, 'ab'.repeat(16));
  t.deepEqual(
    fields.map((f) => `${f.name}=${f.value.toString()}`),
    ['_TRANSPORT=stdout', `_STREAM_ID=${'ab'.repeat(16)}`, 'PRIORITY=2', 'SYSLOG_FACILITY=3', 'SYSLOG_IDENTIFIER=tool', '_LINE_BREAK=nul', 'MESSAGE=boom', '_PID=5', '_UID=6', '_GID=7'],
  );
});

test('unit names as journald accepts them for the unit line', (t) => {
  for (const ok of ['a.service', 'foo@bar.service', 'x-y_z:1.socket', 'a\\x2d.mount', 'foo@a@b.service']) t.true(isValidUnitName(ok), ok);
  for (const bad of ['', 'foo', 'foo.bar', '.service', 'foo@.service', '@x.service', 'a b.service', 'é.service', `${'a'.repeat(250)}.service`]) {
    t.false(isValidUnitName(bad), bad);
  }
});

test('property: how the stream is cut into reads does not change the records', (t) => {
  const body = fc.array(fc.oneof(fc.constant(0x0a), fc.constant(0), fc.constant(0x3c), fc.integer({ min: 0x30, max: 0x39 }), fc.integer({ min: 0x3e, max: 0x7a })), { maxLength: 600 });
  fc.assert(
    fc.property(body, fc.array(fc.nat({ max: 700 }), { maxLength: 8 }), (bytes, cuts) => {
      const data = Buffer.concat([Buffer.from(HEADER), Buffer.from(bytes)]);
      const whole = new StdoutStreamParser({ lineMax: 80 });
      const expected = msgs([...whole.push(data), ...whole.end()]);
      const parts = new StdoutStreamParser({ lineMax: 80 });
      let held = 0;
      const got = msgs([
        ...cutAt(data, cuts).flatMap((c) => {
          const out = parts.push(c);
          held = Math.max(held, parts.pendingBytes);
          return out;
        }),
        ...parts.end(),
      ]);
      if (held >= 255) return false;
      return JSON.stringify(got) === JSON.stringify(expected) && got.every(([m]) => m.length > 0 && m.length <= 80);
    }),
  );
  t.pass();
});

test('property: arbitrary bytes either parse or fail with a coded header error', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
      const p = new StdoutStreamParser({ lineMax: 79 });
      const code = codeOf(() => [...p.push(Buffer.from(bytes)), ...p.end()]);
      return code === undefined || code === 'LW_ERR_JOURNAL_STREAM_HEADER';
    }),
  );
  t.pass();
});
