// The stdout-stream protocol against the real systemd-journald: our client's fd as a child's
// stdout, and our parser giving the same records journald stores for the same bytes.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import fc from 'fast-check';
import { StdoutStreamParser, fieldText, openStdoutStream, stdoutRecordFields, type JournalField } from '../../src/journal/index.js';
import { close } from '../../src/native/index.js';
import { tempDir } from '../journal/helpers.js';
import { readJsonLines } from './harness/entries.js';
import { JOURNALD_NEEDS, peerTest, sharedJournald, waitFor } from './harness/peers.js';

const jd = sharedJournald();

// The parts of a stdout record both sides must agree on.
const KEYS = ['MESSAGE', 'PRIORITY', 'SYSLOG_FACILITY', 'SYSLOG_IDENTIFIER', '_LINE_BREAK', '_TRANSPORT', '_PID'];
const project = (fields: readonly JournalField[]): string[] => KEYS.map((k) => `${k}=${fields.find((f) => f.name === k)?.value.toString('hex') ?? '-'}`);

async function throughJournald(t: { teardown: (fn: () => void) => void }, body: Buffer, opts: { priority: number; levelPrefix: boolean }): Promise<{ theirs: string[][]; ours: string[][] }> {
  const identifier = `lw-${randomBytes(6).toString('hex')}`;
  const tmp = tempDir();
  t.teardown(tmp.cleanup);
  writeFileSync(tmp.path('body'), body);
  const fd = openStdoutStream({ path: jd().stdout, identifier, priority: opts.priority, levelPrefix: opts.levelPrefix });
  // The stream fd becomes cat's stdout; the parent's copy is closed so EOF comes when cat exits.
  const child = spawn('cat', [tmp.path('body')], { stdio: ['ignore', fd, 'inherit'] });
  close(fd);
  const pid = child.pid ?? 0;
  await new Promise((r) => child.on('exit', r));

  const parser = new StdoutStreamParser({ creds: { pid, uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 } });
  const header = Buffer.from(`${identifier}\n\n${opts.priority}\n${opts.levelPrefix ? 1 : 0}\n0\n0\n0\n`);
  const records = [...parser.push(Buffer.concat([header, body])), ...parser.end()];
  const ours = records.map((r) => project(stdoutRecordFields(parser, r, 'x')));

  const theirs = await waitFor(`${ours.length} stdout records`, async () => {
    const got = readJsonLines(await jd().journalctl(['-o', 'json', '--all', `SYSLOG_IDENTIFIER=${identifier}`]));
    const last = got.at(-1);
    return got.length >= ours.length && last !== undefined && fieldText(last.fields, '_LINE_BREAK') === 'eof' ? got : undefined;
  });
  return { theirs: theirs.map((e) => project(e.fields)), ours };
}

peerTest('a child writes through openStdoutStream to journald; our parser makes the same records (prefixes, NUL, LineMax, EOF)', JOURNALD_NEEDS, async (t) => {
  const body = Buffer.concat([
    Buffer.from('plain line\n<3>error line\n<7>debug\0<8>not a level\n<03>zero-padded\n<1>\n\n  spaces kept  \ncarriage\r\n'),
    Buffer.from('héllo ✓\n'),
    Buffer.from([0xff, 0xfe, 0x41, 0x0a]),
    Buffer.alloc(60_000, 0x61),
    Buffer.from('\n'),
    Buffer.alloc(48 * 1024, 0x62),
    Buffer.from('\nafter exact line-max\n<5>no newline at the end'),
  ]);
  const { theirs, ours } = await throughJournald(t, body, { priority: 30, levelPrefix: true });
  t.is(ours.length, 14);
  t.deepEqual(theirs, ours);
});

peerTest('without level_prefix journald keeps <N> in the message; facility and priority from the header', JOURNALD_NEEDS, async (t) => {
  const { theirs, ours } = await throughJournald(t, Buffer.from('<2>kept\nline two\0tail'), { priority: 3, levelPrefix: false });
  t.is(ours.length, 3);
  t.deepEqual(theirs, ours);
});

peerTest('our parser agrees with journald on 20 generated streams (random bytes, prefixes, blanks, long runs)', JOURNALD_NEEDS, async (t) => {
  const piece = fc.oneof(
    fc.uint8Array({ maxLength: 30 }).map((a) => Buffer.from(a)),
    fc.constantFrom('\n', '\0', '<', '>', '<3>', '<07>', '<9>', '  ', '\t', '\r', 'x').map((s) => Buffer.from(s)),
    fc.integer({ min: 1, max: 70_000 }).map((n) => Buffer.alloc(n, 0x7a)),
  );
  const stream = fc.record({
    body: fc.array(piece, { maxLength: 25 }).map((p) => Buffer.concat(p)),
    priority: fc.integer({ min: 0, max: 191 }),
    levelPrefix: fc.boolean(),
  });
  let records = 0;
  for (const s of fc.sample(stream, { numRuns: 20, seed: 77 })) {
    // Every stream needs at least one record so that its EOF can be waited for.
    const body = Buffer.concat([s.body, Buffer.from('\nend')]);
    const { theirs, ours } = await throughJournald(t, body, s);
    t.deepEqual(theirs, ours);
    records += ours.length;
  }
  t.log(`${records} records compared`);
});
