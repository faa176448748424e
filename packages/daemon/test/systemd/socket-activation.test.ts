// systemd 252 as PID 1 of a container: a .socket unit starts the service on the first connection
// and hands it the listener under its FileDescriptorName.
import { createConnection } from 'node:net';

import test from 'ava';

import { Container, fixturesDir, nspawnTest, SHARE } from './harness.js';

function readLine(path: string, timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const sock = createConnection(path);
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no answer on ${path} within ${timeoutMs} ms`));
    }, timeoutMs);
    sock.setEncoding('utf8');
    sock.on('data', (s: string) => (text += s));
    sock.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    sock.on('end', () => {
      clearTimeout(timer);
      resolve(text);
    });
  });
}

const units = {
  'sa.socket': `[Socket]
ListenStream=/run/lwsa/sa.sock
SocketMode=0600
FileDescriptorName=hello-rpc
`,
  'sa.service': `[Service]
Type=notify
ExecStart=${process.execPath} ${fixturesDir}/socket-service.js ${SHARE} hello-rpc
`,
};

nspawnTest(test, 'the first connection starts the service, which finds its listener by name', async (t) => {
  const c = await Container.boot({ units });
  try {
    t.is((await c.systemctl('start', 'sa.socket')).code, 0);
    t.is(await c.property('sa.service', 'ActiveState'), 'inactive', 'nothing runs before a client comes');

    const answer = JSON.parse(await readLine(c.hostPath('/run/lwsa/sa.sock'))) as {
      pid: number;
      fds: { fd: number; name: string; cloexec: boolean }[];
    };
    t.deepEqual(answer.fds, [{ fd: 3, name: 'hello-rpc', cloexec: true }]);
    t.is(await c.property('sa.service', 'ActiveState'), 'active');
    t.is(await c.property('sa.service', 'MainPID'), String(answer.pid));

    // Later connections go to the same process.
    const again = JSON.parse(await readLine(c.hostPath('/run/lwsa/sa.sock'))) as { pid: number };
    t.is(again.pid, answer.pid);
  } finally {
    await c.stop();
  }
});
