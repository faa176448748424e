// Benchmark 7: the longest stall a full-speed writer sees while the daemon is re-exec'd in place, and
// (under a real systemd, when this machine can boot one with systemd-nspawn) while it is restarted
// with `systemctl restart` and after `kill -9`. The writer (test/upgrade/fixtures/seq-writer.ts)
// writes 64 KiB blocks into the log pipe as fast as the pipe takes them and logs every write() that
// blocked 10 ms or more; a stall is the longest such wait overlapping the event. virtlogd, re-exec'd
// with SIGUSR1 in the same run, is the peer. Beside the stalls: how long the daemon itself says the
// pipes went unread (`pausedMs` of its "took over" line), and Node's own start-up measured in the
// same run (bench/probe-startup.ts), which is the floor of that. Prints the figures and writes its
// section of docs/benchmarks.md (between the bench:upgrade markers).
//
//   node dist/bench/upgrade-stall.js          BENCH_UPGRADES=10 by default
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RpcClient } from '@logwarden/core/protocol';
import { sleep, until } from '../test/wait.js';
import { Container, daemonDir, nspawnUnavailable, waitFor } from '../test/systemd/harness.js';
import { readReport, spawnSeqWriter, type WriterReport } from '../test/upgrade/helpers.js';
import { LogwardendProcess } from './logwardend.js';
import { VIRTLOGD, VirtlogdClient, VirtlogdPeer } from './virtlogd.js';

const UPGRADES = Number(process.env.BENCH_UPGRADES ?? 10);
const DOCS = fileURLToPath(new URL('../../docs/benchmarks.md', import.meta.url));
const BEGIN = '<!-- bench:upgrade -->';
const END = '<!-- /bench:upgrade -->';
// Files rotate at 64 MiB with one backup: a full-speed writer must not fill the disk.
const LOG_OPTS = { maxSize: 64 * 1024 * 1024, maxBackups: 1 };
const WRITER_BYTES = 2 ** 50;
const PROBE = fileURLToPath(new URL('./probe-startup.js', import.meta.url));
const PROBE_RUNS = 21;

interface Window {
  start: number;
  end: number;
}

interface Row {
  what: string;
  stalls: number[];
}

/** The longest writer wait that overlaps each window (0 when the writer never waited 10 ms then). */
function stallsIn(report: WriterReport, windows: Window[]): number[] {
  return windows.map((w) => {
    let max = 0;
    for (const [end, ms] of report.stalls) if (end >= w.start && end - ms <= w.end) max = Math.max(max, ms);
    return max;
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : (s[Math.floor((s.length - 1) / 2)] ?? NaN);
}

/** Runs a full-speed writer on `fd`, calls `events` while it writes, then stops it and returns its report. */
async function withWriter(dir: string, fd: number, events: () => Promise<Window[]>): Promise<{ windows: Window[]; report: WriterReport }> {
  const stopFile = join(dir, 'stop');
  const reportFile = join(dir, 'report.json');
  rmSync(stopFile, { force: true });
  const writer = spawnSeqWriter(fd, { stopFile, reportFile, maxBytes: WRITER_BYTES, batchBytes: 64 * 1024 });
  const done = new Promise<void>((resolve) => writer.once('exit', () => { resolve(); }));
  await sleep(500);
  const windows = await events();
  await sleep(300);
  writeFileSync(stopFile, '');
  await done;
  return { windows, report: readReport(reportFile) };
}

/** Node's start-up in a fresh process: medians of PROBE_RUNS runs of bench/probe-startup.ts. */
function nodeStartup(): { firstStatement: number; loaded: number } {
  const runs = Array.from({ length: PROBE_RUNS }, () => JSON.parse(execFileSync(process.execPath, [PROBE], { encoding: 'utf8' })) as { firstStatement: number; loaded: number });
  return { firstStatement: median(runs.map((r) => r.firstStatement)), loaded: median(runs.map((r) => r.loaded)) };
}

async function logwardendReexec(dir: string): Promise<{ row: Row; baseline: number; paused: number[] }> {
  const d = await LogwardendProcess.start(dir, { ...LOG_OPTS, logLevel: 'info', captureStderr: true });
  const client = await RpcClient.connect(d.socketPath, { timeoutMs: 30_000 });
  try {
    const open = await client.call('openLog', { driver: 'qemu', domain: null, path: 'stall.log', ...LOG_OPTS });
    const fd = open.fds[0] ?? -1;
    const { windows, report } = await withWriter(dir, fd, async () => {
      const out: Window[] = [];
      for (let i = 1; i <= UPGRADES; i++) {
        const start = Date.now();
        d.proc.kill('SIGUSR1');
        await until(async () => (await client.call('stats', {})).result.upgrades === i, `re-exec ${i}`);
        out.push({ start, end: Date.now() });
        await sleep(300);
      }
      return out;
    });
    if (report.error !== null) throw new Error(`writer failed: ${report.error}`);
    // What the writer sees with no upgrade at all: the waits outside every window.
    const quiet = report.stalls.filter(([end, ms]) => !windows.some((w) => end >= w.start && end - ms <= w.end)).map(([, ms]) => ms);
    const paused = [...d.stderr().matchAll(/took over from the previous process .*pausedMs=(\d+)/g)].map((m) => Number(m[1]));
    return { row: { what: 'logwardend re-exec (SIGUSR1)', stalls: stallsIn(report, windows) }, baseline: Math.max(0, ...quiet), paused };
  } finally {
    client.close();
    d.proc.kill('SIGTERM');
    await new Promise((r) => d.proc.once('exit', r));
  }
}

async function virtlogdReexec(dir: string): Promise<Row | null> {
  if (!existsSync(VIRTLOGD)) return null;
  const peer = await VirtlogdPeer.start(dir, LOG_OPTS);
  const client = VirtlogdClient.connect(peer.socketPath);
  try {
    const open = await client.openLog(join(dir, 'stall.log'));
    const { windows, report } = await withWriter(dir, open.fd, async () => {
      const out: Window[] = [];
      for (let i = 0; i < UPGRADES; i++) {
        const start = Date.now();
        process.kill(peer.pid, 'SIGUSR1');
        // virtlogd says nothing when it is back: give it a generous second, then check it answers.
        await sleep(1000);
        await client.getPosition(join(dir, 'stall.log'));
        out.push({ start, end: Date.now() });
      }
      return out;
    });
    if (report.error !== null) throw new Error(`writer through virtlogd failed: ${report.error}`);
    return { what: 'virtlogd re-exec (SIGUSR1)', stalls: stallsIn(report, windows) };
  } finally {
    client.close();
    await peer.stop();
  }
}

async function systemdRestarts(dir: string): Promise<Row[]> {
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'logwardend'), `#!/bin/sh\nexec ${process.execPath} ${daemonDir}/dist/src/main.js "$@"\n`);
  chmodSync(join(bin, 'logwardend'), 0o755);
  const read = (name: string): string => readFileSync(join(daemonDir, 'systemd', name), 'utf8');
  const c = await Container.boot({
    units: { 'logwardend.socket': read('logwardend.socket'), 'logwardend.service': read('logwardend.service') },
    bindReadOnly: { [bin]: '/usr/local/bin' },
  });
  try {
    await c.systemctl('start', 'logwardend.socket');
    const sock = c.hostPath('/run/logwarden/logwardend.sock');
    const connect = (): Promise<RpcClient> => waitFor('logwardend', () => RpcClient.connect(sock, { timeoutMs: 30_000 }).catch(() => null), 60_000);
    const first = await connect();
    const open = await first.call('openLog', { driver: 'qemu', domain: null, path: 'stall.log', ...LOG_OPTS });
    first.close();
    // StartLimitBurst=5 per 60 s counts every start (restart included): 1 + 2 + 2 stays within it.
    const rounds = 2;
    const restart: Window[] = [];
    const crash: Window[] = [];
    const { report } = await withWriter(dir, open.fds[0] ?? -1, async () => {
      for (const [kind, list] of [['restart', restart], ['crash', crash]] as const) {
        for (let i = 0; i < rounds; i++) {
          const old = await c.property('logwardend.service', 'MainPID');
          const start = Date.now();
          if (kind === 'restart') await c.systemctl('restart', 'logwardend.service');
          else await c.run(['kill', '-KILL', old]);
          const client = await waitFor('a new daemon with the log open', async () => {
            const p = await c.property('logwardend.service', 'MainPID');
            if (p === '0' || p === old) return null;
            const cl = await RpcClient.connect(sock, { timeoutMs: 30_000 }).catch(() => null);
            if (cl === null) return null;
            const open = (await cl.call('stats', { path: 'stall.log' })).result.logs[0]?.open === true;
            if (!open) cl.close();
            return open ? cl : null;
          }, 60_000);
          client.close();
          list.push({ start, end: Date.now() });
          await sleep(2000);
        }
      }
      return [];
    });
    if (report.error !== null) throw new Error(`writer through the container daemon failed: ${report.error}`);
    return [
      { what: 'logwardend `systemctl restart` (fd store)', stalls: stallsIn(report, restart) },
      { what: 'logwardend `kill -9` + Restart= (fd store, RestartSec=200ms)', stalls: stallsIn(report, crash) },
    ];
  } finally {
    await c.stop();
  }
}

function fmt(ms: number): string {
  return Number.isFinite(ms) ? ms.toFixed(0) : 'n/a';
}

async function main(): Promise<void> {
  const root = mkdtempSync(join(os.tmpdir(), 'lw-bench-upgrade-'));
  try {
    const sub = (name: string): string => {
      const d = join(root, name);
      mkdirSync(d);
      return d;
    };
    const startup = nodeStartup();
    const { row: ours, baseline, paused } = await logwardendReexec(sub('logwardend'));
    const rows: Row[] = [ours];
    const peer = await virtlogdReexec(sub('virtlogd')).catch((err: unknown) => {
      console.error(`virtlogd skipped: ${String(err)}`);
      return null;
    });
    if (peer !== null) rows.push(peer);
    const nspawn = nspawnUnavailable();
    if (nspawn === null) rows.push(...(await systemdRestarts(sub('systemd'))));
    else console.error(`systemd rows skipped: ${nspawn}`);

    const oursMax = Math.max(...ours.stalls);
    const lines = rows.map((r) => {
      const max = Math.max(...r.stalls);
      const vs = r === ours || peer === null ? '' : ` | ${(max / oursMax).toFixed(1)}x`;
      return `| ${r.what} | ${r.stalls.length} | ${fmt(median(r.stalls))} | ${fmt(max)}${r === ours ? ' | 1.0x' : vs || ' | '} |`;
    });
    const table = [
      '| event | n | median stall ms | max stall ms | max vs logwardend re-exec |',
      '|---|---|---|---|---|',
      ...lines,
    ].join('\n');
    const cpus = os.cpus();
    const load = os.loadavg().map((l) => l.toFixed(1)).join(' ');
    const section = `${BEGIN}
## Upgrade and restart stalls (bench/upgrade-stall.ts)

A child process writes 64 KiB blocks into its log pipe as fast as the pipe takes them (1 MiB pipe,
files rotated at 64 MiB) and records every \`write()\` that blocked 10 ms or more; the stall of an event
is the longest such wait overlapping it (from the signal until the daemon answers again with the log
open). Goal: < 100 ms for a re-exec. The same writer without any event waited ${baseline === 0 ? 'less than 10 ms at every write' : `at most ${fmt(baseline)} ms`}.
systemd rows: systemd 252 as PID 1 of a systemd-nspawn container, the shipped units; the writer runs on
the host.

Run: ${new Date().toISOString().slice(0, 10)}, ${cpus.length} x ${cpus[0]?.model ?? 'cpu'}, Linux ${os.release()}, Node ${process.version}, ${UPGRADES} re-execs, load average ${load} at the end.

${table}

Where a re-exec's stall goes. The daemon reports how long the pipes went unread (from its last read
before execve to its first read after, \`pausedMs\` in its log): median ${fmt(median(paused))} ms, max ${fmt(Math.max(...paused))} ms in
this run. Most of it is Node's own start-up, measured in the same run by bench/probe-startup.ts (medians
of ${PROBE_RUNS} fresh processes): ${fmt(startup.firstStatement)} ms from the process start to the first statement of an ES module,
${fmt(startup.loaded)} ms once the native layer and the rotating file are loaded, the least a new image needs before it
can drain a pipe into a file. The rest is the kernel's exec of the old image (tearing down its address
space) and taking the logs back. The new image does nothing else first
(src/main.ts has no static imports, src/upgrade/resume.ts loads only those modules and
\`@logwarden/core/errors\`, not the RPC protocol, msgpack or the configuration parser), and the old one
lets the pipes go only for the synchronous steps right before execve (clients, journal mirrors and
systemd are settled while the pipes are still read). Node flags measured and rejected: \`--no-opt\`,
\`--max-lazy\`, \`--single-threaded\`, \`--v8-pool-size=0\`, \`--max-semi-space-size=16\` (no gain or
slower); \`--jitless\` is slower and the V8 compile cache needs Node 22.
${END}`;
    console.log(table);
    console.log(`writer alone, longest wait: ${fmt(baseline)} ms`);
    console.log(`pipes unread (daemon): ${paused.join(' ')}; Node start-up: first statement ${fmt(startup.firstStatement)} ms, loaded ${fmt(startup.loaded)} ms`);
    for (const r of rows) console.log(`${r.what}: ${r.stalls.map(fmt).join(' ')}`);
    const doc = existsSync(DOCS) ? readFileSync(DOCS, 'utf8') : '# logwardend benchmarks\n';
    const at = doc.indexOf(BEGIN);
    const endAt = doc.indexOf(END);
    const next = at >= 0 && endAt > at ? doc.slice(0, at) + section + doc.slice(endAt + END.length) : `${doc.trimEnd()}\n\n${section}\n`;
    writeFileSync(DOCS, next);
    console.log(`written to ${DOCS}`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
