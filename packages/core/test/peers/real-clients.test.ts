// Real journald clients (logger --journald, systemd-cat) talking to logwarden's servers: inside
// a private mount namespace, /run/systemd/journal/{socket,stdout} are symlinks to our sockets.
import { writeFileSync } from 'node:fs';
import { JournalNativeServer, JournalStdoutServer, fieldText, type ReceivedEntry, type StdoutEntry } from '../../src/journal/index.js';
import { nextEvents, tempDir } from '../journal/helpers.js';
import { userSet, value } from './harness/entries.js';
import { peerTest, run } from './harness/peers.js';

const NEEDS = { bins: ['logger', 'systemd-cat', 'unshare', 'mount'], root: true };

peerTest('logger --journald (a 9 MB entry as a memfd too) and systemd-cat reach our native and stdout servers', NEEDS, async (t) => {
  const tmp = tempDir();
  const native = JournalNativeServer.listen(tmp.path('socket'));
  const stdout = JournalStdoutServer.listen(tmp.path('stdout'));
  t.teardown(() => {
    native.close();
    stdout.close();
    tmp.cleanup();
  });
  const streamErrors: unknown[] = [];
  stdout.on('stream-error', (e: unknown) => streamErrors.push(e));
  writeFileSync(tmp.path('entry'), 'MESSAGE=from logger\nLWTEST=small\nFOO=a=b\nPRIORITY=5\n');
  const nine = 'x'.repeat(9 * 1024 * 1024);
  writeFileSync(tmp.path('big'), `MESSAGE=${nine}\nLWTEST=big\n`);

  const nativeEntries = nextEvents<ReceivedEntry>(native, 'entry', 2, 60_000);
  const stdoutEntries = nextEvents<StdoutEntry>(stdout, 'entry', 4, 60_000);
  const script = [
    'set -e',
    'mkdir -p /run/systemd',
    'mount -t tmpfs -o mode=755 tmpfs /run/systemd',
    'mkdir /run/systemd/journal',
    `ln -s '${tmp.path('socket')}' /run/systemd/journal/socket`,
    `ln -s '${tmp.path('stdout')}' /run/systemd/journal/stdout`,
    `logger --journald='${tmp.path('entry')}'`,
    `logger --journald='${tmp.path('big')}'`,
    "printf 'cat line\\nsecond\\n' | systemd-cat -t LWCAT -p warning",
    "printf '<2>crit\\nplain' | systemd-cat -t LWCAT2 --level-prefix=true",
  ].join('\n');
  const r = await run('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script]);
  t.is(r.code, 0, r.stderr);

  const [small, big] = await nativeEntries;
  if (!small || !big) return t.fail();
  // logger adds its own SYSLOG_IDENTIFIER; everything from the file must be there byte-exact.
  const smallSet = userSet(small.fields);
  for (const f of ['MESSAGE=from logger', 'LWTEST=small', 'FOO=a=b', 'PRIORITY=5']) {
    const [name, ...v] = f.split('=');
    t.true(smallSet.includes(`${name}=${Buffer.from(v.join('=')).toString('hex')}`), f);
  }
  t.is(small.via, 'datagram');
  t.is(fieldText(small.fields, '_TRANSPORT'), 'journal');
  t.not(fieldText(small.fields, '_PID'), String(process.pid));
  t.is(fieldText(small.fields, '_UID'), '0');
  t.is(big.via, 'memfd');
  t.is(fieldText(big.fields, 'LWTEST'), 'big');
  t.true(value(big.fields, 'MESSAGE')?.equals(Buffer.from(nine)));

  const records = await stdoutEntries;
  t.deepEqual(
    records.map((e) => [fieldText(e.fields, 'SYSLOG_IDENTIFIER'), fieldText(e.fields, 'MESSAGE'), fieldText(e.fields, 'PRIORITY'), fieldText(e.fields, '_LINE_BREAK') ?? 'newline']),
    [
      ['LWCAT', 'cat line', '4', 'newline'],
      ['LWCAT', 'second', '4', 'newline'],
      ['LWCAT2', 'crit', '2', 'newline'],
      ['LWCAT2', 'plain', '6', 'eof'],
    ],
  );
  for (const e of records) t.is(fieldText(e.fields, '_TRANSPORT'), 'stdout');
  t.deepEqual(streamErrors, []);
});
