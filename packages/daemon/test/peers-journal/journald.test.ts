// The daemon's journal side against the real peers: a mirrored log read back from the real
// systemd-journald with journalctl, and real journald clients (logger --journald, systemd-cat)
// writing to the daemon's ingest sockets.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseJsonEntry, type JournalField } from '@logwarden/core/journal';
import { close, write } from '@logwarden/core/native';
import { OPEN_FLAGS } from '@logwarden/core/protocol';
import { domain, tempDir, until } from '../helpers.js';
import { readJsonChain, startDaemon, text } from '../journal/helpers.js';
import { JOURNALD_BINS, peerTest, run, startJournald } from './harness.js';

function writeAll(fd: number, s: string): void {
  const b = Buffer.from(s);
  let off = 0;
  while (off < b.length) off += write(fd, b, off) ?? 0;
}

function jsonLines(out: Buffer): JournalField[][] {
  return out.toString('utf8').split('\n').filter((l) => l !== '').map((l) => parseJsonEntry(l).fields);
}

peerTest('a mirrored log reaches the real journald: journalctl -o json shows each line with the logwarden fields', JOURNALD_BINS, async (t) => {
  const journald = await startJournald(t);
  const dir = tempDir(t);
  const s = await startDaemon(t, `[journal]\nmirror_socket = "${journald.socket}"\n`, dir);
  const uuid = domain.uuid;
  const open = await s.daemon.server.inject('openLog', { driver: 'qemu', domain, path: 'qemu/vm1.log', flags: OPEN_FLAGS.MIRROR_JOURNAL });
  const fd = open.fds[0] as number;
  const n = 500;
  for (let i = 0; i < n; i++) writeAll(fd, `guest line ${i}\r\n`);
  writeAll(fd, 'cut at the end');
  close(fd);
  await until(() => s.daemon.journal.mirrors.active === 0, 'the mirror to finish', 60_000);
  let entries: JournalField[][] = [];
  await until(async () => {
    entries = jsonLines(await journald.journalctl(['-o', 'json', `LOGWARDEN_DOMAIN_UUID=${uuid}`]));
    return entries.length === n + 1;
  }, 'journald to store every line', 60_000);
  t.deepEqual(entries.slice(0, n).map((e) => text(e, 'MESSAGE')), Array.from({ length: n }, (_, i) => `guest line ${i}`));
  const first = entries[0] ?? [];
  t.is(text(first, 'PRIORITY'), '6');
  t.is(text(first, 'SYSLOG_IDENTIFIER'), 'qemu-vm1');
  t.is(text(first, 'LOGWARDEN_PATH'), join(s.daemon.handler.root.dir, 'qemu/vm1.log'));
  t.is(text(first, 'LOGWARDEN_DRIVER'), 'qemu');
  t.is(text(first, 'LOGWARDEN_DOMAIN_NAME'), domain.name);
  t.is(text(first, '_TRANSPORT'), 'journal');
  t.is(text(first, '_PID'), String(process.pid));
  t.is(text(first, 'LOGWARDEN_PARTIAL'), undefined);
  const last = entries[n] ?? [];
  t.is(text(last, 'MESSAGE'), 'cut at the end');
  t.is(text(last, 'LOGWARDEN_PARTIAL'), '1');
});

peerTest('logger --journald and systemd-cat, pointed at the daemon\'s ingest sockets, end up as JSON lines per identifier', ['logger', 'systemd-cat', 'unshare', 'mount'], async (t) => {
  const dir = tempDir(t);
  // Files of 32 MiB: the 9 MB entry fits whole (a smaller cap stores it with its large values null).
  const s = await startDaemon(t, '[ingest]\nnative_socket = "run/journal/socket"\nstdout_socket = "run/journal/stdout"\nmax_size = 33554432\n', dir);
  const ingest = s.daemon.journal.ingest;
  if (ingest === null) return t.fail('ingest not started');
  writeFileSync(join(dir, 'entry'), 'MESSAGE=from logger\nSYSLOG_IDENTIFIER=lwlogger\nFOO=a=b\nPRIORITY=5\n');
  const nine = 'y'.repeat(9 * 1024 * 1024);
  writeFileSync(join(dir, 'big'), `MESSAGE=${nine}\nSYSLOG_IDENTIFIER=lwbig\n`);
  const script = [
    'set -e',
    'mkdir -p /run/systemd',
    'mount -t tmpfs -o mode=755 tmpfs /run/systemd',
    'mkdir /run/systemd/journal',
    `ln -s '${join(s.stateDir, 'run/journal/socket')}' /run/systemd/journal/socket`,
    `ln -s '${join(s.stateDir, 'run/journal/stdout')}' /run/systemd/journal/stdout`,
    `logger --journald='${join(dir, 'entry')}'`,
    `logger --journald='${join(dir, 'big')}'`,
    "printf 'cat line\\nsecond\\n' | systemd-cat -t lwcat -p warning",
  ].join('\n');
  const r = await run('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script]);
  t.is(r.code, 0, r.stderr);
  await until(() => ingest.stats.entries === 4, 'four entries', 60_000);
  ingest.flush();
  const root = join(s.logRoot, 'journal');
  const [small] = readJsonChain(root, 'lwlogger.json');
  if (small === undefined) return t.fail('no lwlogger.json entry');
  t.is(text(small, 'MESSAGE'), 'from logger');
  t.is(text(small, 'FOO'), 'a=b');
  t.is(text(small, 'PRIORITY'), '5');
  t.is(text(small, '_TRANSPORT'), 'journal');
  t.not(text(small, '_PID'), String(process.pid), 'the pid of logger, from SCM_CREDENTIALS');
  t.is(text(small, '_UID'), '0');
  t.truthy(text(small, '__REALTIME_TIMESTAMP'));
  const [big] = readJsonChain(root, 'lwbig.json');
  t.is(text(big ?? [], 'MESSAGE'), nine, 'the 9 MB entry logger sent as a memfd, whole');
  t.deepEqual(
    readJsonChain(root, 'lwcat.json').map((e) => [text(e, 'MESSAGE'), text(e, 'PRIORITY'), text(e, '_TRANSPORT')]),
    [['cat line', '4', 'stdout'], ['second', '4', 'stdout']],
  );
});
