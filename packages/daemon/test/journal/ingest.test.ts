// The daemon's journald-compatible ingest sockets, end to end in process: real JournalClient and
// openStdoutStream clients -> the daemon's sockets -> JSON-lines rotating logs per identifier.
import test from 'ava';
import { closeSync, existsSync, readdirSync, readFileSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { JournalClient, openStdoutStream, parseJsonEntry } from '@logwarden/core/journal';
import { close, connect, memfdCreate, sendmsg, socket } from '@logwarden/core/native';
import { identifierFileName } from '../../src/journal/index.js';
import { until } from '../helpers.js';
import { readJsonChain, startDaemon, text } from './helpers.js';

const INGEST = '[ingest]\nnative_socket = "run/journal/socket"\nstdout_socket = "run/journal/stdout"\n';

function le64(n: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(n);
  return b;
}

test('identifier file names are safe: no separators, no hidden files, a fallback for none', (t) => {
  t.is(identifierFileName('qemu'), 'qemu.json');
  t.is(identifierFileName('../etc/passwd'), '_._etc_passwd.json');
  t.is(identifierFileName('.hidden'), '_hidden.json');
  t.is(identifierFileName('a b\nc\0d/é'), 'a_b_c_d__.json');
  t.is(identifierFileName(''), 'unknown.json');
  t.is(identifierFileName(undefined), 'unknown.json');
  t.is(identifierFileName('x'.repeat(500)).length, 128 + 5);
});

test('native entries land as journalctl JSON lines, one log per identifier, with trusted fields', async (t) => {
  const s = await startDaemon(t, INGEST);
  const ingest = s.daemon.journal.ingest;
  if (ingest === null) return t.fail('ingest not started');
  const client = new JournalClient({ path: join(s.stateDir, 'run/journal/socket') });
  client.open();
  t.teardown(() => { client.close(); });
  const binary = Buffer.from([0x00, 0x01, 0xff, 0x0a, 0x41]);
  await client.send({ MESSAGE: 'hello alpha', SYSLOG_IDENTIFIER: 'alpha', PRIORITY: '5', BLOB: binary, TAG: ['a', 'b'] });
  await client.send({ MESSAGE: 'multi\nline', SYSLOG_IDENTIFIER: 'beta' });
  await client.send({ MESSAGE: 'no identifier' });
  await client.send({ MESSAGE: 'still none' });
  await client.send({ MESSAGE: 'escape attempt', SYSLOG_IDENTIFIER: '../../etc/x' });
  const dir = join(s.logRoot, 'journal');
  await until(() => ingest.stats.entries === 5 && existsSync(join(dir, '_._.._etc_x.json')), 'five entries written');
  ingest.flush();
  t.deepEqual(readdirSync(dir).filter((f) => !f.startsWith('.')).sort(), ['_._.._etc_x.json', 'alpha.json', 'beta.json', 'unknown.json']);

  const [alpha] = readJsonChain(dir, 'alpha.json');
  if (alpha === undefined) return t.fail();
  t.deepEqual(alpha.slice(0, 2).map((f) => f.name), ['__REALTIME_TIMESTAMP', '__MONOTONIC_TIMESTAMP']);
  const realtime = Number(text(alpha, '__REALTIME_TIMESTAMP'));
  t.true(Math.abs(realtime / 1000 - Date.now()) < 600_000, 'realtime is microseconds since the epoch');
  const monotonic = Number(text(alpha, '__MONOTONIC_TIMESTAMP'));
  const nowMonotonic = Number(process.hrtime.bigint() / 1000n);
  t.true(monotonic <= nowMonotonic && nowMonotonic - monotonic < 600_000_000, 'monotonic is CLOCK_MONOTONIC in microseconds');
  t.is(text(alpha, '_BOOT_ID'), readFileSync('/proc/sys/kernel/random/boot_id', 'latin1').trim().replaceAll('-', ''));
  t.is(text(alpha, 'MESSAGE'), 'hello alpha');
  t.is(text(alpha, 'PRIORITY'), '5');
  t.true(alpha.find((f) => f.name === 'BLOB')?.value.equals(binary), 'binary value kept byte-exact');
  t.deepEqual(alpha.filter((f) => f.name === 'TAG').map((f) => f.value.toString()), ['a', 'b']);
  t.is(text(alpha, '_TRANSPORT'), 'journal');
  t.is(text(alpha, '_PID'), String(process.pid));
  t.is(text(alpha, '_UID'), String(process.getuid?.()));
  t.is(text(alpha, '_GID'), String(process.getgid?.()));
  t.is(text(readJsonChain(dir, 'beta.json')[0] ?? [], 'MESSAGE'), 'multi\nline');
  t.deepEqual(readJsonChain(dir, 'unknown.json').map((e) => text(e, 'MESSAGE')), ['no identifier', 'still none']);
  t.is(text(readJsonChain(dir, '_._.._etc_x.json')[0] ?? [], 'MESSAGE'), 'escape attempt');
});

test('stdout streams: each line an entry with the header priority; a last line without newline is flagged eof', async (t) => {
  const s = await startDaemon(t, INGEST);
  const ingest = s.daemon.journal.ingest;
  if (ingest === null) return t.fail('ingest not started');
  const fd = openStdoutStream({ path: join(s.stateDir, 'run/journal/stdout'), identifier: 'svc', priority: 4, levelPrefix: true });
  writeSync(fd, 'first\n<2>critical\nthird without newline');
  closeSync(fd);
  await until(() => ingest.stats.entries === 3, 'three records');
  ingest.flush();
  const entries = readJsonChain(join(s.logRoot, 'journal'), 'svc.json');
  t.deepEqual(
    entries.map((e) => [text(e, 'MESSAGE'), text(e, 'PRIORITY'), text(e, 'SYSLOG_IDENTIFIER'), text(e, '_LINE_BREAK'), text(e, '_TRANSPORT')]),
    [
      ['first', '4', 'svc', undefined, 'stdout'],
      ['critical', '2', 'svc', undefined, 'stdout'],
      ['third without newline', '4', 'svc', 'eof', 'stdout'],
    ],
  );
  for (const e of entries) t.is(text(e, '_PID'), String(process.pid));
});

test('ingest logs are capped: files never exceed max_size, lines are never cut, the newest entries are kept', async (t) => {
  const s = await startDaemon(t, `${INGEST}max_size = 4096\nmax_backups = 2\n`);
  const ingest = s.daemon.journal.ingest;
  if (ingest === null) return t.fail('ingest not started');
  const client = new JournalClient({ path: join(s.stateDir, 'run/journal/socket') });
  client.open();
  t.teardown(() => { client.close(); });
  const n = 2000;
  for (let i = 0; i < n; i++) await client.send({ MESSAGE: `entry ${i} ${'x'.repeat(60)}`, SYSLOG_IDENTIFIER: 'flood' });
  await until(() => ingest.stats.entries === n, 'every entry ingested');
  ingest.flush();
  const dir = join(s.logRoot, 'journal');
  const files = readdirSync(dir).filter((f) => f.startsWith('flood.json'));
  t.deepEqual(files.sort(), ['flood.json', 'flood.json.0', 'flood.json.1']);
  for (const f of files) t.true(statSync(join(dir, f)).size <= 4096, `${f} within max_size`);
  const kept = readJsonChain(dir, 'flood.json').map((e) => Number(/^entry (\d+) /.exec(text(e, 'MESSAGE') ?? '')?.[1]));
  t.true(kept.length > 30 && kept.length < n);
  t.is(kept.at(-1), n - 1, 'the newest entry is kept');
  t.deepEqual(kept, kept.map((_, i) => (kept[0] ?? 0) + i), 'what is kept is one unbroken run');
});

test('an entry too big for one file keeps its fields with large values null, as journalctl prints them', async (t) => {
  const s = await startDaemon(t, `${INGEST}max_size = 8192\n`);
  const ingest = s.daemon.journal.ingest;
  if (ingest === null) return t.fail('ingest not started');
  const client = new JournalClient({ path: join(s.stateDir, 'run/journal/socket') });
  client.open();
  t.teardown(() => { client.close(); });
  await client.send({ MESSAGE: 'z'.repeat(20_000), SYSLOG_IDENTIFIER: 'huge', SMALL: 'kept' });
  await client.send({ MESSAGE: 'next', SYSLOG_IDENTIFIER: 'huge' });
  await until(() => ingest.stats.entries === 2, 'both entries');
  ingest.flush();
  const text0 = readFileSync(join(s.logRoot, 'journal', 'huge.json'), 'utf8').split('\n')[0] ?? '';
  const entry = parseJsonEntry(text0);
  t.deepEqual(entry.truncated, ['MESSAGE']);
  t.is(text(entry.fields, 'SMALL'), 'kept');
  t.is(ingest.stats.nulled, 1);
  t.is(text(readJsonChain(join(s.logRoot, 'journal'), 'huge.json')[1] ?? [], 'MESSAGE'), 'next');
});

test('malformed datagrams are counted, never crash the daemon, and later entries still land', async (t) => {
  const s = await startDaemon(t, INGEST);
  const ingest = s.daemon.journal.ingest;
  if (ingest === null) return t.fail('ingest not started');
  const path = join(s.stateDir, 'run/journal/socket');
  const raw = socket('dgram');
  t.teardown(() => { close(raw); });
  connect(raw, path);
  sendmsg(raw, [Buffer.from('MESSAGE=kept\nTRAILING NOISE')]);
  sendmsg(raw, [Buffer.from('BIG\n'), le64(1n << 40n), Buffer.from('x')]);
  sendmsg(raw, [Buffer.from('SHORT\n'), le64(100n), Buffer.from('abc\n')]);
  sendmsg(raw, [Buffer.from([0xff, 0xfe, 0x00, 0x0a, 0x3d, 0x0a])]);
  const memfd = memfdCreate('unsealed');
  t.teardown(() => { close(memfd); });
  writeSync(memfd, 'MESSAGE=unsealed\n');
  sendmsg(raw, [], { fds: [memfd] });
  sendmsg(raw, [Buffer.from('MESSAGE=with fd\n')], { fds: [memfd] });
  const client = new JournalClient({ path });
  client.open();
  t.teardown(() => { client.close(); });
  await client.send({ MESSAGE: 'after the garbage', SYSLOG_IDENTIFIER: 'good' });
  await until(() => readJsonChain(join(s.logRoot, 'journal'), 'good.json').length === 1, 'the good entry');
  const problems = ingest.stats.problems;
  t.true((problems['trailing-noise'] ?? 0) >= 1, JSON.stringify(problems));
  t.true((problems['unsealed-fd'] ?? 0) === 1, JSON.stringify(problems));
  t.true((problems['fds-with-data'] ?? 0) === 1, JSON.stringify(problems));
  t.true((problems['truncated-binary'] ?? 0) + (problems['data-too-big'] ?? 0) >= 2, JSON.stringify(problems));
  t.is(s.daemon.journal.ingest, ingest, 'still serving');
  t.is(ingest.stats.entries, 2, 'the entry before the noise and the good one');
});

test('ingest is off by default and its sockets are removed at stop', async (t) => {
  const off = await startDaemon(t, '');
  t.is(off.daemon.journal.ingest, null);
  t.false(existsSync(join(off.stateDir, 'run/journal')));
  const on = await startDaemon(t, INGEST);
  const sock = join(on.stateDir, 'run/journal/socket');
  t.true(existsSync(sock));
  await on.daemon.stop();
  t.false(existsSync(sock));
  t.false(existsSync(join(on.stateDir, 'run/journal/stdout')));
});

test('bad [ingest] and [journal] settings are coded config errors', async (t) => {
  for (const toml of ['[ingest]\nbogus = 1\n', '[ingest]\ndir = "../x"\n', '[journal]\nmirror_priority = 9\n', '[journal]\nmirror = "yes"\n', 'ingest = 3\n']) {
    const err = await t.throwsAsync(startDaemon(t, toml));
    t.is((err as { code?: string }).code, 'LW_ERR_CONFIG_INVALID', toml);
  }
});
