// systemd 252 as PID 1 of a container: the fd store across a crash (Restart=on-failure), FDPOLL,
// FDSTOREREMOVE, fd names and the sealed state record, through our Notifier and listenFds().
import test from 'ava';

import { decodeFdName, encodeFdName, fdIdHash } from '../../src/systemd/index.js';
import { KEPT_BYTES, LOG_ID, LONG_BYTES, LONG_ID, STATE_FINAL } from './fixtures/fd-store-ids.js';
import { Container, fixturesDir, nspawnTest, SHARE } from './harness.js';

const unit = `[Unit]
StartLimitIntervalSec=60
StartLimitBurst=5
[Service]
Type=notify
NotifyAccess=main
ExecStart=${process.execPath} ${fixturesDir}/fd-store-service.js ${SHARE}
FileDescriptorStoreMax=16
Restart=on-failure
RestartSec=100ms
`;

interface Run2 {
  pid: number;
  listenEnvLeft: string[];
  fds: { name: string; decoded: unknown; cloexec: boolean; data: string }[];
}

nspawnTest(test, 'a crashed service gets its stored pipes back with the bytes still in them', async (t) => {
  const c = await Container.boot({ units: { 'fdstore.service': unit } });
  try {
    const start = await c.systemctl('start', 'fdstore.service');
    t.is(start.code, 0, start.stderr);
    const run1 = await c.readShared<{ pid: number }>('run1.json');
    const run2 = await c.readShared<Run2>('run2.json').catch(async (err: unknown) => {
      t.log(await c.journal('fdstore.service'));
      throw err;
    });
    t.not(run2.pid, run1.pid, 'a new process');
    t.is(await c.property('fdstore.service', 'NRestarts'), '1');

    const byName = new Map(run2.fds.map((f) => [f.name, f]));
    const logName = encodeFdName('log', LOG_ID);
    const longName = encodeFdName('log', LONG_ID);
    t.deepEqual([...byName.keys()].sort(), [logName, longName, 'state'].sort(), 'polled and removed fds are gone');
    t.is(run2.fds.length, 3, 'the replaced state record is not kept twice');

    t.is(byName.get(logName)?.data, KEPT_BYTES);
    t.deepEqual(byName.get(logName)?.decoded, { kind: 'log', id: LOG_ID, hash: fdIdHash(LOG_ID) });
    t.is(byName.get(longName)?.data, LONG_BYTES);
    t.deepEqual(byName.get(longName)?.decoded, decodeFdName(longName));
    t.deepEqual(byName.get(longName)?.decoded, { kind: 'log', id: null, hash: fdIdHash(LONG_ID) });
    t.is(byName.get('state')?.data, STATE_FINAL);
    t.true(run2.fds.every((f) => f.cloexec), 'listenFds() set CLOEXEC');
    t.deepEqual(run2.listenEnvLeft, []);
    t.is(await c.property('fdstore.service', 'StatusText'), 'restored');

    // stop + start empties the store: the next process starts from scratch.
    t.is((await c.systemctl('stop', 'fdstore.service')).code, 0);
    t.is(await c.property('fdstore.service', 'NFileDescriptorStore'), '0');
  } finally {
    await c.stop();
  }
});
