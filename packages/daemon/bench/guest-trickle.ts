// Many quiet guests in one process: opens COUNT logs on a daemon (logwardend or virtlogd), then
// writes RATE bytes per second into each pipe for SECONDS, spread evenly over time. Prints
// "ready" once every log is open and writing starts, "done" when it stopped and closed the pipes.
// usage: guest-trickle.js logwardend|virtlogd SOCKET DIR COUNT RATE SECONDS
import { writeSync } from 'node:fs';
import { join } from 'node:path';
import { close } from '@logwarden/core/native';
import { RpcClient } from '@logwarden/core/protocol';
import { VirtlogdClient } from './virtlogd.js';

const [kind, socketPath, dir, countText, rateText, secondsText] = process.argv.slice(2);
const count = Number(countText);
const rate = Number(rateText);
const seconds = Number(secondsText);
const TICK_MS = 10;
const ticksPerSecond = 1000 / TICK_MS;

async function openAll(): Promise<number[]> {
  const paths = Array.from({ length: count }, (_, i) => join(dir ?? '', `guest-${i}.log`));
  const fds: number[] = [];
  if (kind === 'virtlogd') {
    const c = VirtlogdClient.connect(socketPath ?? '');
    for (const p of paths) fds.push((await c.openLog(p)).fd);
    c.close();
  } else {
    const c = await RpcClient.connect(socketPath ?? '');
    for (const p of paths) {
      const { fds: got } = await c.call('openLog', { driver: 'qemu', domain: null, path: p });
      fds.push(got[0] as number);
    }
    c.close();
  }
  return fds;
}

const fds = await openAll();
// Each pipe is written once a second per slot group: RATE bytes split into 10 writes of lines.
const perWrite = Math.round(rate / 10);
const line = `${'x'.repeat(99)}\n`;
const chunk = Buffer.from(line.repeat(Math.ceil(perWrite / line.length)).slice(0, perWrite - 1) + '\n');
const groups = ticksPerSecond / 10;
process.stdout.write('ready\n');
let tick = 0;
const totalTicks = seconds * ticksPerSecond;
const started = Date.now();
await new Promise<void>((resolve) => {
  const step = (): void => {
    // Catch up on late timers so the offered rate stays exact on a loaded machine.
    const due = Math.min(totalTicks, Math.floor((Date.now() - started) / TICK_MS) + 1);
    for (; tick < due; tick++) {
      for (let i = tick % groups; i < fds.length; i += groups) writeSync(fds[i] as number, chunk);
    }
    if (tick >= totalTicks) resolve();
    else setTimeout(step, TICK_MS);
  };
  step();
});
for (const fd of fds) close(fd);
process.stdout.write('done\n');
