// Benchmark 7: the longest stall a full-speed writer sees while the daemon is re-exec'd in place, and
// (under a real systemd, when this machine can boot one with systemd-nspawn) while it is restarted
// with `systemctl restart` and after `kill -9`. The writer (test/upgrade/fixtures/seq-writer.ts)
// writes 64 KiB blocks into the log pipe as fast as the pipe takes them and logs every write() that
// blocked 10 ms or more; a stall is the longest such wait overlapping the event. virtlogd, re-exec'd
// with SIGUSR1 in the same run, is the peer. Beside the stalls: how long the daemon itself says the
// pipes went unread (`pausedMs` of its "took over" line), and Node's own start-up measured in the
// same run (bench/probe-startup.ts), which is the floor of that. The re-exec runs twice: with the
// default exec_headroom (src/upgrade/exec-headroom.ts: the pipe widened for the exec) and with
// exec_headroom = 0. Prints the figures and writes its section of docs/benchmarks.md (between the
// bench:upgrade markers).
//
// Exec headroom needs CAP_SYS_RESOURCE to widen a pipe past /proc/sys/fs/pipe-max-size (1 MiB by
// default). A root without it (a container's bounding set) gets the sysctl raised to
// HEADROOM_PER_LOG_MAX for the headroom run, and the old value back right after; the output says so.
//
//   node dist/bench/upgrade-stall.js          BENCH_UPGRADES=10 re-execs per run, BENCH_RUNS=3 runs by default
//
// The runs alternate (headroom, exec_headroom = 0, virtlogd; then again), so that the load of a
// shared machine falls on all three alike; the table pools them and lists each run.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { close, dup, getPipeSize, pipe, pipeBytes, setPipeSize } from '@logwarden/core/native';
import { RpcClient } from '@logwarden/core/protocol';
import { sleep, until } from '../test/wait.js';
import { Container, daemonDir, nspawnUnavailable, waitFor } from '../test/systemd/harness.js';
import { readReport, spawnSeqWriter, type WriterReport } from '../test/upgrade/helpers.js';
import { HEADROOM_PER_LOG_MAX } from '../src/upgrade/exec-headroom.js';
import { LogwardendProcess } from './logwardend.js';
import { VIRTLOGD, VirtlogdClient, VirtlogdPeer } from './virtlogd.js';

const UPGRADES = Number(process.env.BENCH_UPGRADES ?? 10);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const DOCS = fileURLToPath(new URL('../../docs/benchmarks.md', import.meta.url));
const BEGIN = '<!-- bench:upgrade -->';
const END = '<!-- /bench:upgrade -->';
// Files rotate at 64 MiB with one backup: a full-speed writer must not fill the disk.
const LOG_OPTS = { maxSize: 64 * 1024 * 1024, maxBackups: 1 };
const WRITER_BYTES = 2 ** 50;
const PROBE = fileURLToPath(new URL('./probe-startup.js', import.meta.url));
const PROBE_RUNS = 21;
const PIPE_MAX = '/proc/sys/fs/pipe-max-size';

interface Window {
  start: number;
  end: number;
}

interface Row {
  what: string;
  stalls: number[];
  /** The stalls of each run, when the row ran more than once. */
  runs?: number[][];
}

function pooled(rows: Row[]): Row {
  return { what: rows[0]?.what ?? '', stalls: rows.flatMap((r) => r.stalls), runs: rows.map((r) => r.stalls) };
}

/** What a logwardend re-exec run saw, from the writer and from the daemon's own (debug) log. */
interface ReexecRun {
  row: Row;
  baseline: number;
  /** pausedMs of each re-exec: the pipes unread, from the last read before execve to the first after. */
  paused: number[];
  /** Of each pause: the old image's last steps + the kernel's exec; Node's start-up + loading resume.ts; taking the logs back. */
  execMs: number[];
  startMs: number[];
  adoptMs: number[];
  /** Re-execs whose widening found the pipe at its size (room for the exec), their widened size and cost. */
  widened: number;
  widenedTo: number[];
  widenMs: number[];
  /** ms from the next image's first read until the pipe was back at pipe_size. */
  shrunkAfter: number[];
  limited: string[];
  /** The longest writer wait overlapping each exec itself (last read before execve to first read after). */
  inExec: number[];
  /** The fullest the pipe was (share of its size, sampled every 5 ms) during each exec itself. */
  fullest: number[];
  /** MiB/s the daemon took in from the writer over the whole run. */
  throughput: number;
}

/** Several runs of one logwardend row as one. */
function pooledRuns(runs: ReexecRun[]): ReexecRun {
  const cat = (f: (r: ReexecRun) => number[]): number[] => runs.flatMap(f);
  return {
    row: pooled(runs.map((r) => r.row)),
    baseline: Math.max(...runs.map((r) => r.baseline)),
    paused: cat((r) => r.paused),
    execMs: cat((r) => r.execMs),
    startMs: cat((r) => r.startMs),
    adoptMs: cat((r) => r.adoptMs),
    widened: runs.reduce((n, r) => n + r.widened, 0),
    widenedTo: cat((r) => r.widenedTo),
    widenMs: cat((r) => r.widenMs),
    shrunkAfter: cat((r) => r.shrunkAfter),
    limited: runs.flatMap((r) => r.limited),
    inExec: cat((r) => r.inExec),
    fullest: cat((r) => r.fullest),
    throughput: median(runs.map((r) => r.throughput)),
  };
}

function fields(text: string, line: RegExp): Record<string, string>[] {
  return [...text.matchAll(new RegExp(`${line.source}.*`, 'g'))].map((m) => Object.fromEntries([...m[0].matchAll(/(\w+)=(\S+)/g)].map((f) => [f[1] ?? '', f[2] ?? ''])));
}

function nums(rows: Record<string, string>[], key: string): number[] {
  return rows.map((r) => Number(r[key])).filter((n) => Number.isFinite(n));
}

/** Does this process hold CAP_SYS_RESOURCE (which lets a pipe grow past pipe-max-size)? */
function hasSysResource(): boolean {
  const eff = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '0';
  return (BigInt(`0x${eff}`) & (1n << 24n)) !== 0n;
}

/** Runs `fn` with pipe-max-size at least `size` when only the sysctl can give the daemon that (see the header). */
async function withPipeMax<T>(size: number, fn: (raised: string | null) => Promise<T>): Promise<T> {
  const before = Number(readFileSync(PIPE_MAX, 'utf8'));
  if (hasSysResource() || before >= size || process.getuid?.() !== 0) return fn(null);
  writeFileSync(PIPE_MAX, String(size));
  const raised = `${before} -> ${size}`;
  console.error(`fs.pipe-max-size raised ${raised} for the headroom run (this root lacks CAP_SYS_RESOURCE)`);
  try {
    return await fn(raised);
  } finally {
    writeFileSync(PIPE_MAX, String(before));
    console.error(`fs.pipe-max-size back to ${before}`);
  }
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

/**
 * How fast the writer fills a pipe of HEADROOM_PER_LOG_MAX that nobody reads (MiB/s): what decides
 * how long the widened pipe lasts while no process reads it. Needs pipe-max-size raised or
 * CAP_SYS_RESOURCE (see withPipeMax); null if the kernel refuses the size.
 */
async function fillRate(dir: string): Promise<number | null> {
  const { readFd, writeFd } = pipe({ nonblock: false });
  try {
    setPipeSize(readFd, HEADROOM_PER_LOG_MAX);
  } catch {
    close(readFd);
    close(writeFd);
    return null;
  }
  const stopFile = join(dir, 'fill-stop');
  const writer = spawnSeqWriter(writeFd, { stopFile, reportFile: join(dir, 'fill.json'), maxBytes: HEADROOM_PER_LOG_MAX, batchBytes: 64 * 1024 });
  const done = new Promise<void>((resolve) => writer.once('exit', () => { resolve(); }));
  try {
    await until(() => pipeBytes(readFd) > 0, 'the writer to start');
    const start = performance.now();
    // Full once a 64 KiB block no longer fits.
    await until(() => pipeBytes(readFd) > HEADROOM_PER_LOG_MAX - 64 * 1024, 'the pipe to fill');
    return HEADROOM_PER_LOG_MAX / 2 ** 20 / ((performance.now() - start) / 1000);
  } finally {
    writeFileSync(stopFile, '');
    close(readFd);
    await done;
  }
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

async function logwardendReexec(dir: string, what: string, headroom: number | null): Promise<ReexecRun> {
  const d = await LogwardendProcess.start(dir, { ...LOG_OPTS, logLevel: 'info', captureStderr: true });
  const client = await RpcClient.connect(d.socketPath, { timeoutMs: 30_000 });
  try {
    // The daemon's debug lines say where each pause went; every new image reads this file again.
    const config = join(dir, 'logwardend.toml');
    const text = readFileSync(config, 'utf8').replace('log_level = "info"', 'log_level = "debug"');
    writeFileSync(config, `${text}${headroom === null ? '' : `exec_headroom = ${headroom}\n`}`);
    d.proc.kill('SIGHUP');
    await until(() => d.stderr().includes('configuration reloaded'), 'the daemon to reload');
    const open = await client.call('openLog', { driver: 'qemu', domain: null, path: 'stall.log', ...LOG_OPTS });
    const fd = open.fds[0] ?? -1;
    // How full the pipe is, sampled through our own copy of its write end: a wait while it has room
    // is not the pipe's doing.
    const probe = dup(fd);
    const fill: [number, number][] = [];
    const sampler = setInterval(() => {
      fill.push([Date.now(), pipeBytes(probe) / getPipeSize(probe)]);
    }, 5);
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
    }).finally(() => {
      clearInterval(sampler);
      close(probe);
    });
    // Read right after the writer stopped: what the daemon took in while it wrote (the pipe may hold more).
    const bytesIn = (await client.call('stats', { path: 'stall.log' })).result.logs[0]?.bytesIn ?? 0;
    if (report.error !== null) throw new Error(`writer failed: ${report.error}; the daemon said:\n${d.stderr().split('\n').slice(-30).join('\n')}`);
    // What the writer sees with no upgrade at all: the waits outside every window.
    const quiet = report.stalls.filter(([end, ms]) => !windows.some((w) => end >= w.start && end - ms <= w.end)).map(([, ms]) => ms);
    const log = d.stderr();
    const resumed = fields(log, /DEBUG resumed after a re-exec/);
    // That line carries the time it was logged, right after the logs were taken back.
    const execWindows = [...log.matchAll(/^(\S+) DEBUG resumed after a re-exec execMs=(\S+) startMs=(\S+) adoptMs=(\S+)/gm)].map((m) => {
      const end = Date.parse(m[1] ?? '');
      return { start: end - Number(m[2]) - Number(m[3]) - Number(m[4]), end };
    });
    const widenings = fields(log, /exec headroom: (pipes widened for the exec|the kernel gave less than asked)/);
    const roomy = widenings.filter((w) => w.pipes === '1');
    return {
      row: { what, stalls: stallsIn(report, windows) },
      baseline: Math.max(0, ...quiet),
      paused: nums(fields(log, /took over from the previous process/), 'pausedMs'),
      execMs: nums(resumed, 'execMs'),
      startMs: nums(resumed, 'startMs'),
      adoptMs: nums(resumed, 'adoptMs'),
      widened: roomy.length,
      widenedTo: nums(roomy, 'size'),
      widenMs: nums(roomy, 'ms'),
      shrunkAfter: nums(fields(log, /exec headroom: pipe back to its size/), 'afterMs'),
      limited: widenings.flatMap((w) => (w.limitedBy === undefined ? [] : [w.limitedBy])),
      inExec: stallsIn(report, execWindows),
      fullest: execWindows.map((w) => Math.max(0, ...fill.filter(([at]) => at >= w.start && at <= w.end).map(([, f]) => f))),
      throughput: bytesIn / 2 ** 20 / (report.elapsedMs / 1000),
    };
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

/** The writer records waits of 10 ms or more: a 0 is a stall too short to see. */
function fmtStall(ms: number): string {
  return ms === 0 ? '<10' : fmt(ms);
}

function spread(xs: number[], f: (x: number) => string = fmt): string {
  return xs.length === 0 ? 'n/a' : `median ${f(median(xs))}, ${f(Math.min(...xs))}-${f(Math.max(...xs))}`;
}

function pct(f: number): string {
  return Number.isFinite(f) ? `${(f * 100).toFixed(0)}%` : 'n/a';
}

/** Milliseconds that may be below 1 (a widening that found memory at hand). */
function fmtFine(ms: number): string {
  return Number.isFinite(ms) ? (ms < 1 ? ms.toFixed(1) : ms.toFixed(0)) : 'n/a';
}

const MIB = 1024 * 1024;

async function main(): Promise<void> {
  const root = mkdtempSync(join(os.tmpdir(), 'lw-bench-upgrade-'));
  try {
    const sub = (name: string): string => {
      const d = join(root, name);
      mkdirSync(d);
      return d;
    };
    const startup = nodeStartup();
    const oursRuns: ReexecRun[] = [];
    const offRuns: ReexecRun[] = [];
    const peerRuns: Row[] = [];
    const fills: number[] = [];
    const raisedAs = new Set<string>();
    for (let run = 1; run <= RUNS; run++) {
      const raisedNow = await withPipeMax(HEADROOM_PER_LOG_MAX, async (r) => {
        const f = await fillRate(sub(`fill-${run}`));
        if (f !== null) fills.push(f);
        oursRuns.push(await logwardendReexec(sub(`logwardend-${run}`), 'logwardend re-exec (SIGUSR1), exec headroom (default)', null));
        return r;
      });
      if (raisedNow !== null) raisedAs.add(raisedNow);
      offRuns.push(await logwardendReexec(sub(`logwardend-off-${run}`), 'logwardend re-exec (SIGUSR1), `exec_headroom = 0`', 0));
      const peer = await virtlogdReexec(sub(`virtlogd-${run}`)).catch((err: unknown) => {
        console.error(`virtlogd skipped: ${String(err)}`);
        return null;
      });
      if (peer !== null) peerRuns.push(peer);
      console.error(`run ${run}: headroom ${oursRuns.at(-1)?.row.stalls.map(fmtStall).join(' ') ?? ''}; off ${offRuns.at(-1)?.row.stalls.map(fmtStall).join(' ') ?? ''}; virtlogd ${peer?.stalls.map(fmtStall).join(' ') ?? 'n/a'}`);
    }
    const ours = pooledRuns(oursRuns);
    const off = pooledRuns(offRuns);
    const fill = fills.length === 0 ? null : median(fills);
    const rows: Row[] = [ours.row, off.row];
    if (peerRuns.length > 0) rows.push(pooled(peerRuns));
    const nspawn = nspawnUnavailable();
    if (nspawn === null) rows.push(...(await systemdRestarts(sub('systemd'))));
    else console.error(`systemd rows skipped: ${nspawn}`);

    const oursMax = Math.max(...ours.row.stalls);
    const lines = rows.map((r) => {
      const max = Math.max(...r.stalls);
      // Below the writer's 10 ms threshold the ratio is only a lower bound.
      const vs = r === ours.row ? '1.0x' : oursMax === 0 ? `>${(max / 10).toFixed(1)}x` : `${(max / oursMax).toFixed(1)}x`;
      const each = r.runs === undefined ? '' : r.runs.map((s) => `${fmtStall(median(s))} / ${fmtStall(Math.max(...s))}`).join(', ');
      return `| ${r.what} | ${r.stalls.length} | ${fmtStall(median(r.stalls))} | ${fmtStall(max)} | ${vs} | ${each} |`;
    });
    const table = [
      '| event | n | median stall ms | max stall ms | max vs logwardend re-exec | each run: median / max |',
      '|---|---|---|---|---|---|',
      ...lines,
    ].join('\n');
    const baseline = Math.max(ours.baseline, off.baseline);
    const cpus = os.cpus();
    const load = os.loadavg().map((l) => l.toFixed(1)).join(' ');
    const widenedTo = ours.widenedTo.length === 0 ? 'n/a' : `${fmt(median(ours.widenedTo) / MIB)} MiB`;
    const section = `${BEGIN}
## Upgrade and restart stalls (bench/upgrade-stall.ts)

A child process writes 64 KiB blocks into its log pipe as fast as the pipe takes them (1 MiB pipe,
files rotated at 64 MiB) and records every \`write()\` that blocked 10 ms or more; the stall of an event
is the longest such wait overlapping it (from the signal until the daemon answers again with the log
open; \`<10\`: no wait that long). Goal: < 100 ms for a re-exec. The same writer without any event
waited ${baseline === 0 ? 'less than 10 ms at every write' : `at most ${fmt(baseline)} ms`}. The re-exec runs with the default \`exec_headroom\` and again with
\`exec_headroom = 0\` (what the daemon did before it), then virtlogd, ${UPGRADES} re-execs each, and all of that ${RUNS} times.
systemd rows: systemd 252 as PID 1 of a systemd-nspawn container, the shipped units; the writer runs on
the host.

Run: ${new Date().toISOString().slice(0, 10)}, ${cpus.length} x ${cpus[0]?.model ?? 'cpu'}, Linux ${os.release()}, Node ${process.version}, load average ${load} at the end${raisedAs.size === 0 ? '' : `; fs.pipe-max-size raised ${[...raisedAs].join(', ')} for the headroom runs (this root lacks CAP_SYS_RESOURCE), restored after each`}.

${table}

Goal (< 100 ms) ${oursMax < 100 ? 'met' : 'missed'}: the longest of the ${ours.row.stalls.length} re-exec stalls with exec headroom was ${fmtStall(oursMax)} ms (${fmtStall(Math.max(...off.row.stalls))} ms without); ${ours.row.runs?.filter((s) => Math.max(...s) < 100).length ?? 0} of ${RUNS} runs stayed under 100 ms throughout.

Exec headroom (src/upgrade/exec-headroom.ts). A re-exec's stall is the guest's pipe being full while
no process reads it. Right before the synchronous exec steps the daemon widens every open log's pipe
(F_SETPIPE_SZ) to its share of \`exec_headroom\` (256 MiB across all open logs, at most ${fmt(HEADROOM_PER_LOG_MAX / MIB)} MiB per
pipe), so the kernel holds what guests write during the exec; the next image, once it reads again,
shrinks each pipe back to its size (retrying while the pipe holds more). Memory: a pipe allocates a
page only when a guest writes into it and frees it when read, so the bound is spent only on what
guests write during the window, plus the slot ring (40 bytes per 4 KiB, ${((HEADROOM_PER_LOG_MAX / 4096) * 40 / MIB).toFixed(1)} MiB for ${fmt(HEADROOM_PER_LOG_MAX / MIB)} MiB) while
widened. It only buffers: the exec itself is not shorter. In these runs ${ours.widened} of ${ours.paused.length} widenings found the pipe
below its share (to ${widenedTo}, taking ${spread(ours.widenMs, fmtFine)} ms, while the kernel holds the pipe locked); ${ours.shrunkAfter.length} times
a pipe was back at 1 MiB before the next upgrade (${spread(ours.shrunkAfter)} ms after shrinking began). How long a widened pipe lasts
depends on the guest: this writer filled a pipe nobody reads at ${fill === null ? 'n/a' : fmt(fill)} MiB/s (median of ${fills.length} runs: ${fills.map(fmt).join(', ')}), so ${fmt(HEADROOM_PER_LOG_MAX / MIB)} MiB last it
~${fill === null ? 'n/a' : fmt((HEADROOM_PER_LOG_MAX / MIB / fill) * 1000)} ms, and the daemon took in ${fmt(ours.throughput)} MiB/s from it (median over the runs). A guest that outwrites the daemon
keeps its pipe full, widened or not: an upgrade first waits up to 2 s, still reading, for a pipe
still widened from the last one to shrink back (retried every 20 ms); one that stays full has no room.${ours.limited.length === 0 ? '' : ` The kernel gave less than asked ${ours.limited.length} times (${[...new Set(ours.limited)].join(', ')}).`}

The longest wait overlapping the exec itself (from the last read before execve to the first read
after): ${spread(ours.inExec, fmtStall)} ms with headroom, ${spread(off.inExec, fmtStall)} ms without. The pipe, sampled every 5 ms,
filled up during ${ours.fullest.filter((f) => f >= 0.99).length} of the ${ours.fullest.length} execs with headroom (the pause outlasted the room; ${pct(median(ours.fullest))} full in the
median exec; without headroom: ${ours.fullest.length === 0 ? 'n/a' : `${off.fullest.filter((f) => f >= 0.99).length} of ${off.fullest.length}`}). With room left, what the writer still waits for is a CPU: this machine has 2 cores for the writer, the draining daemon and the new
image's start-up (and, earlier in the table's windows, the \`--check-upgrade\` canary); the writer
alone, outside any upgrade, waited up to ${fmt(baseline)} ms in these runs. The same contention makes the exec itself
slower while the guest goes on writing: the pipes went unread (\`pausedMs\`, the daemon's measure) for
${spread(ours.paused)} ms with headroom, ${spread(off.paused)} ms without.

Where a re-exec's pause goes (the \`exec_headroom = 0\` row, whose writer waits and leaves the CPUs to
the exec; the daemon's debug line \`resumed after a re-exec\`): the old image's last steps and the
kernel's exec ${spread(off.execMs)} ms, Node's start-up and loading src/upgrade/resume.ts ${spread(off.startMs)} ms, taking the
logs back ${spread(off.adoptMs)} ms. Node's own start-up, measured in the same run by
bench/probe-startup.ts (medians of ${PROBE_RUNS} fresh processes, before the runs): ${fmt(startup.firstStatement)} ms from the process start to the first
statement of an ES module, ${fmt(startup.loaded)} ms once the native layer and the rotating file are loaded, the
least a new image needs before it can drain a pipe into a file. The new image does nothing else first
(src/main.ts has no static imports, src/upgrade/resume.ts loads only those modules and
\`@logwarden/core/errors\`, not the RPC protocol, msgpack or the configuration parser), and the old one
lets the pipes go only for the synchronous steps right before execve (clients, journal mirrors and
systemd are settled while the pipes are still read). Node flags measured and rejected: \`--no-opt\`,
\`--max-lazy\`, \`--single-threaded\`, \`--v8-pool-size=0\`, \`--max-semi-space-size=16\` (no gain or
slower); \`--jitless\` is slower and the V8 compile cache needs Node 22.
${END}`;
    console.log(table);
    console.log(`writer alone, longest wait: ${fmt(baseline)} ms`);
    for (const r of [ours, off]) {
      console.log(`${r.row.what}: pausedMs ${r.paused.join(' ')}; execMs ${r.execMs.join(' ')}; startMs ${r.startMs.join(' ')}; adoptMs ${r.adoptMs.join(' ')}`);
    }
    console.log(`fullest pipe during each exec: headroom ${ours.fullest.map(pct).join(' ')}; off ${off.fullest.map(pct).join(' ')}`);
    console.log(`longest wait overlapping the exec itself: headroom ${ours.inExec.map(fmtStall).join(' ')}; off ${off.inExec.map(fmtStall).join(' ')}`);
    console.log(`widened ${ours.widened}/${ours.paused.length} to ${ours.widenedTo.join(' ')} in ${ours.widenMs.join(' ')} ms; back at pipe_size after ${ours.shrunkAfter.join(' ')} ms; limited: ${ours.limited.join(' ') || 'none'}`);
    console.log(`writer into a pipe nobody reads: ${fills.map(fmt).join(' ')} MiB/s; taken in by the daemon: ${fmt(ours.throughput)} (headroom run), ${fmt(off.throughput)} MiB/s (off)`);
    console.log(`Node start-up: first statement ${fmt(startup.firstStatement)} ms, loaded ${fmt(startup.loaded)} ms`);
    for (const r of rows) console.log(`${r.what}: ${r.stalls.map(fmtStall).join(' ')}`);
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
