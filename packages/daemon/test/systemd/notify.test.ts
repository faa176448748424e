// systemd 252 as PID 1 of a container: READY/STATUS, the reload handshake and the watchdog, driven
// by our Notifier in a real Type=notify service.
import test from 'ava';

import { Container, fixturesDir, nspawnTest, SHARE, waitFor } from './harness.js';

function unit(mode: string): string {
  return `[Service]
Type=notify
NotifyAccess=main
ExecStart=${process.execPath} ${fixturesDir}/notify-service.js ${SHARE} ${mode}
ExecReload=/bin/kill -HUP $MAINPID
WatchdogSec=3s
WatchdogSignal=SIGKILL
Restart=no
`;
}

nspawnTest(test, 'the watchdog keeps a pinging service alive and kills a silent one', async (t) => {
  const c = await Container.boot({ units: { 'wd-ping.service': unit('ping'), 'wd-silent.service': unit('silent') } });
  try {
    t.is((await c.systemctl('start', 'wd-ping.service', 'wd-silent.service')).code, 0);
    const ping = await c.readShared<{ pid: number; watchdogUsec: number }>('ping.json');
    t.is(ping.watchdogUsec, 3_000_000, 'WATCHDOG_USEC read from the environment');
    t.is(await c.property('wd-ping.service', 'StatusText'), 'running (ping)');

    // The silent twin proves the watchdog is armed: it dies of it after 3 s.
    await waitFor('wd-silent to be killed by the watchdog', async () =>
      (await c.property('wd-silent.service', 'Result')) === 'watchdog' ? true : null, 60_000);
    // Well past a period for the pinging one as well.
    await new Promise((r) => setTimeout(r, 4000));
    t.is(await c.property('wd-ping.service', 'ActiveState'), 'active');
    t.is(await c.property('wd-ping.service', 'MainPID'), String(ping.pid));
    t.is(await c.property('wd-ping.service', 'Result'), 'success');
  } finally {
    await c.stop();
  }
});

nspawnTest(test, 'reload: RELOADING=1, STATUS= and READY=1 complete systemctl reload', async (t) => {
  const c = await Container.boot({ units: { 'reload.service': unit('ping') } });
  try {
    t.is((await c.systemctl('start', 'reload.service')).code, 0);
    const before = await c.property('reload.service', 'MainPID');
    for (const n of [1, 2]) {
      const r = await c.systemctl('reload', 'reload.service');
      t.is(r.code, 0, r.stderr);
      t.is(await c.property('reload.service', 'StatusText'), `reloaded ${n}`);
      t.is(await c.property('reload.service', 'ActiveState'), 'active');
    }
    t.is(await c.property('reload.service', 'MainPID'), before, 'reloaded in place');
  } finally {
    await c.stop();
  }
});
