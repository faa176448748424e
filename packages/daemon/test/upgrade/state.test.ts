// The state handed across a re-exec (and kept in the fd store): a round trip keeps every field,
// a state written by a daemon that did not know the later fields still reads (an upgrade from it
// must work), and a malformed one is refused with a coded error.
import test from 'ava';
import { LwError } from '@logwarden/core/protocol';
import { decodeState, encodeState, STATE_VERSION, type DaemonState } from '../../src/upgrade/index.js';

const log = {
  rel: 'qemu/vm1.log',
  driver: 'qemu',
  domain: { uuid: '11111111-2222-3333-4444-555555555555', name: 'vm1' },
  settings: { maxSize: 4096, maxBackups: 3, firstBackupIndex: 0 as const },
  bytesIn: 10,
  bytesWritten: 9,
  bytesDropped: 1,
  position: { inode: '1234', offset: 9 },
  readFd: 7,
  stageFd: 11,
};

const full: DaemonState = {
  version: STATE_VERSION,
  startedAt: 1_700_000_000_000,
  upgrades: 3,
  listenFd: 5,
  connections: [{ fd: 8, replyTo: 2 }],
  logs: [log],
  logRoot: '/var/lib/logwarden/log',
  defaults: { maxSize: 2097152, maxBackups: 3, firstBackupIndex: 1 },
  mirrors: [{ rel: 'qemu/vm1.log', anchor: { inode: '1234', offset: 0 }, sent: 6, entries: 1, partial: 0, gapBytes: 0 }],
  pausedAt: 1_700_000_000_123.5,
};

test('every field survives a round trip', (t) => {
  t.deepEqual(decodeState(encodeState(full)), full);
});

test('a state without the fields added after version 1 reads with their defaults', (t) => {
  const v1: Partial<DaemonState> = { ...full };
  delete v1.logRoot;
  delete v1.defaults;
  delete v1.mirrors;
  delete v1.pausedAt;
  const decoded = decodeState(Buffer.from(JSON.stringify(v1)));
  t.is(decoded.logRoot, null);
  t.is(decoded.defaults, null);
  t.deepEqual(decoded.mirrors, []);
  t.is(decoded.pausedAt, null);
  t.deepEqual(decoded.logs, full.logs);
});

test('malformed mirrors, times and roots are refused with LW_ERR_SYSTEMD_STATE_INVALID', (t) => {
  const bad: unknown[] = [
    { ...full, mirrors: {} },
    { ...full, mirrors: [{ ...full.mirrors[0], sent: -1 }] },
    { ...full, mirrors: [{ ...full.mirrors[0], anchor: { inode: 'x', offset: 0 } }] },
    { ...full, mirrors: [{ ...full.mirrors[0], rel: 3 }] },
    { ...full, pausedAt: 'soon' },
    { ...full, logRoot: 42 },
    { ...full, defaults: { ...full.defaults, firstBackupIndex: 2 } },
  ];
  for (const v of bad) {
    const err = t.throws(() => decodeState(Buffer.from(JSON.stringify(v))), { instanceOf: LwError });
    t.is(err.code, 'LW_ERR_SYSTEMD_STATE_INVALID', JSON.stringify(v).slice(0, 80));
  }
});
