// The staging pipe across a crash or a re-exec: bytes a previous process took from a guest and had
// not yet moved into the file are in its staging pipe. Whoever adopts the log writes them first, then
// the guest's; the fd store hands both pipes back under `log.*` and `stage.*`.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { close, pipe, pipeBytes, write } from '@logwarden/core/native';
import { LogHandler, type LogState } from '../../src/log-handler.js';
import { LogRoot } from '../../src/log-root.js';
import { Logger } from '../../src/logger.js';
import { encodeFdName } from '../../src/systemd/fd-names.js';
import { createStateRecord } from '../../src/systemd/state-record.js';
import { fromFdStore } from '../../src/upgrade/inherit.js';
import { encodeState, STATE_VERSION, type DaemonState } from '../../src/upgrade/state.js';
import { tempDir, until } from '../helpers.js';

const settings = { maxSize: 1024 * 1024, maxBackups: 2, firstBackupIndex: 0 as const };

function handlerFor(dir: string, lines: string[] = []): LogHandler {
  return new LogHandler({
    root: new LogRoot(join(dir, 'log')),
    logger: new Logger({ level: 'debug', write: (l) => lines.push(l) }),
    settings: () => ({ ...settings, pipeSize: 65536, stallTimeoutMs: 1000 }),
  });
}

function logState(rel: string, readFd: number | null, stageFd: number | null): LogState {
  return {
    rel, driver: 'qemu', domain: null, settings, bytesIn: 0, bytesWritten: 0, bytesDropped: 0,
    position: { inode: '0', offset: 0 }, readFd, stageFd,
  };
}

test('adopting a log writes what its staging pipe holds before what the guest wrote since', async (t) => {
  const dir = tempDir(t);
  const handler = handlerFor(dir);
  t.teardown(() => handler.closeAll());
  const guest = pipe({ nonblock: false });
  const stage = pipe();
  t.is(write(stage.writeFd, Buffer.from('older line 1\nolder line 2\n')), 26);
  close(stage.writeFd); // the previous process is gone: nobody holds its write end
  t.is(write(guest.writeFd, Buffer.from('newer line 3\n')), 13);
  handler.adoptState([logState('vm.log', guest.readFd, stage.readFd)]);
  t.is(write(guest.writeFd, Buffer.from('newer line 4\n')), 13);
  t.is((await handler.getPosition('vm.log')).offset, 52);
  t.is(readFileSync(join(dir, 'log', 'vm.log'), 'latin1'), 'older line 1\nolder line 2\nnewer line 3\nnewer line 4\n');
  t.is(pipeBytes(stage.readFd), 0);
  // The staging pipe goes on being the log's: later bytes pass through it too, and EOF closes the log.
  t.is(write(guest.writeFd, Buffer.from('line 5\n')), 7);
  close(guest.writeFd);
  await until(() => !handler.info('vm.log').open, 'the log to close at EOF');
  t.is(readFileSync(join(dir, 'log', 'vm.log'), 'latin1').split('\n').length - 1, 5);
  t.like(handler.info('vm.log'), { bytesIn: 33, bytesWritten: 59, bytesDropped: 0 });
});

test('the fd store hands back guest and staging pipes by name; a staging pipe whose guest pipe is gone is written out and the log closed', async (t) => {
  const dir = tempDir(t);
  const logs: LogState[] = [logState('a.log', null, null), logState('b.log', null, null)];
  const record: DaemonState = {
    version: STATE_VERSION, startedAt: 1, upgrades: 2, listenFd: null, connections: [], logs, logRoot: join(dir, 'log'),
    defaults: settings, mirrors: [], pausedAt: null,
  };
  const guestA = pipe({ nonblock: false });
  const stageA = pipe();
  const stageB = pipe();
  const stray = pipe();
  write(stageA.writeFd, Buffer.from('a staged\n'));
  write(guestA.writeFd, Buffer.from('a guest\n'));
  write(stageB.writeFd, Buffer.from('b staged, guest pipe lost\n'));
  for (const fd of [stageA.writeFd, stageB.writeFd, stray.writeFd]) close(fd);
  const lines: string[] = [];
  const inherited = fromFdStore(
    [
      { fd: createStateRecord(encodeState(record)), name: 'state' },
      { fd: guestA.readFd, name: encodeFdName('log', 'a.log') },
      { fd: stageA.readFd, name: encodeFdName('stage', 'a.log') },
      { fd: stageB.readFd, name: encodeFdName('stage', 'b.log') },
      { fd: stray.readFd, name: 'surprise' },
    ],
    new Logger({ write: (l) => lines.push(l) }),
    settings,
  );
  t.is(inherited.from, 'fd-store');
  t.is(inherited.upgrades, 2);
  const a = inherited.logs.find((l) => l.rel === 'a.log');
  const b = inherited.logs.find((l) => l.rel === 'b.log');
  t.like(a, { readFd: guestA.readFd, stageFd: stageA.readFd });
  t.is(b?.stageFd, stageB.readFd);
  t.true(b?.readFd !== null && b?.readFd !== undefined, 'a stand-in guest pipe at EOF');
  t.true(lines.some((l) => l.includes('inherited fd matches no log') && l.includes('surprise')));

  const handler = handlerFor(dir);
  t.teardown(() => handler.closeAll());
  handler.adoptState(inherited.logs);
  await until(() => !handler.info('b.log').open, 'b.log to be written out and closed');
  t.is(readFileSync(join(dir, 'log', 'b.log'), 'latin1'), 'b staged, guest pipe lost\n');
  await handler.flush('a.log');
  t.is(readFileSync(join(dir, 'log', 'a.log'), 'latin1'), 'a staged\na guest\n');
  t.true(handler.info('a.log').open);
  close(guestA.writeFd);
});
