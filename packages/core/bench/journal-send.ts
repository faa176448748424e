// Native-protocol entries per second into the real systemd-journald: logwarden's JournalClient
// against a C sender doing what sd_journal_send() does (bench/journal-send.c, compiled with cc
// here), in the same run, alternating. Every run is checked: journald must have stored all entries.
//
//   npm run bench:journal                  100000 entries per run, 5 runs of each sender
//   LW_BENCH_ENTRIES=20000 LW_BENCH_RUNS=1 a quick run (the table is still written, with its size)
//   LW_BENCH_WRITE=0                       print only, leave docs/benchmarks.md alone
// Needs root (journald runs in its own mount namespace, started by test/peers/harness/journald-ns.sh).
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { JournalClient } from '../src/journal/index.js';

const here = path.dirname(new URL(import.meta.url).pathname);
const pkg = path.join(here, '..', '..');
const harness = path.join(pkg, 'test', 'peers', 'harness', 'journald-ns.sh');
const cSource = path.join(pkg, 'bench', 'journal-send.c');
const docsFile = path.join(pkg, 'docs', 'benchmarks.md');

const entries = Number(process.env.LW_BENCH_ENTRIES ?? 100_000);
const runs = Number(process.env.LW_BENCH_RUNS ?? 5);
if (!Number.isInteger(entries) || entries < 1 || !Number.isInteger(runs) || runs < 1) {
  console.error('LW_BENCH_ENTRIES and LW_BENCH_RUNS must be positive integers');
  process.exit(2);
}
// In-flight sends of the pipelined variants: enough to keep the socket full, bounded memory.
const WINDOW = 512;

interface Result {
  seconds: number;
  cpuSeconds: number;
}

interface Run extends Result {
  /** journald's own CPU for this run's entries (until all were stored). */
  journaldCpuSeconds: number;
}

type Sender = (socketPath: string, marker: string) => Promise<Result>;

function compileC(): string {
  const bin = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'lw-bench-')), 'journal-send');
  execFileSync('cc', ['-O2', '-o', bin, cSource], { stdio: 'inherit' });
  return bin;
}

function cSender(bin: string): Sender {
  return (socketPath, marker) => {
    const r = spawnSync(bin, [socketPath, String(entries), marker], { encoding: 'latin1' });
    if (r.status !== 0) throw new Error(`C sender failed: ${r.stderr}`);
    const [seconds, cpu] = r.stdout.trim().split(' ').map(Number);
    return Promise.resolve({ seconds: seconds ?? NaN, cpuSeconds: cpu ?? NaN });
  };
}

async function timed(fn: () => Promise<void>): Promise<Result> {
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await fn();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  return { seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
}

// One await per entry: the shape of a caller that logs and waits, like a blocking sd_journal_send().
const awaited: Sender = async (socketPath, marker) => {
  const client = new JournalClient({ path: socketPath });
  client.open();
  try {
    return await timed(async () => {
      for (let i = 0; i < entries; i++) await client.send({ MESSAGE: `bench entry ${i}`, PRIORITY: '6', LWBENCH: marker });
    });
  } finally {
    client.close();
  }
};

/** Sends `entries` with at most WINDOW in flight, timed: the shape of a daemon forwarding logs. */
function inWindows(sendOne: (i: number) => Promise<void>): Promise<Result> {
  return timed(async () => {
    let batch: Promise<void>[] = [];
    for (let i = 0; i < entries; i++) {
      batch.push(sendOne(i));
      if (batch.length === WINDOW) {
        await Promise.all(batch);
        batch = [];
      }
    }
    await Promise.all(batch);
  });
}

// Fire-and-collect with a bounded window.
function pipelined(opts: { shareDatagrams?: boolean } = {}): Sender {
  return async (socketPath, marker) => {
    const client = new JournalClient({ path: socketPath, ...opts });
    client.open();
    try {
      return await inWindows((i) => client.send({ MESSAGE: `bench entry ${i}`, PRIORITY: '6', LWBENCH: marker }));
    } finally {
      client.close();
    }
  };
}

// The libvirt shape: prebuilt `KEY=` buffers, values as separate pieces, one gathered sendmsg.
const pieces: Sender = async (socketPath, marker) => {
  const client = new JournalClient({ path: socketPath });
  client.open();
  const kMessage = Buffer.from('MESSAGE=');
  const kPriority = Buffer.from('PRIORITY=');
  const kBench = Buffer.from('LWBENCH=');
  const six = Buffer.from('6');
  const mark = Buffer.from(marker);
  try {
    return await inWindows((i) => client.sendPieces([kMessage, Buffer.from(`bench entry ${i}`), kPriority, six, kBench, mark]));
  } finally {
    client.close();
  }
};

function startJournald(): number {
  const pid = Number(execFileSync(harness, { encoding: 'latin1' }).trim());
  if (!Number.isInteger(pid) || pid <= 0) throw new Error('journald did not start');
  return pid;
}

// utime + stime of a process, in seconds (clock ticks of 10 ms: runs last seconds).
function processCpu(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function stored(pid: number, marker: string): number {
  const out = execFileSync('journalctl', ['--directory', `/proc/${pid}/root/run/log/journal`, '--no-pager', '-q', '-o', 'cat', `LWBENCH=${marker}`], {
    maxBuffer: 1024 * 1024 * 1024,
  });
  let n = 0;
  for (const b of out) if (b === 0x0a) n++;
  return n;
}

async function waitStored(pid: number, marker: string): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const n = stored(pid, marker);
    if (n === entries) return;
    if (n > entries || Date.now() > deadline) throw new Error(`journald stored ${n} of ${entries} entries`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
};

interface Row {
  name: string;
  rate: number;
  minRate: number;
  maxRate: number;
  /** Median, min and max over runs of rate / the C sender's rate in the same run. */
  ratio: number;
  minRatio: number;
  maxRatio: number;
  cpuUs: number;
  journaldUs: number;
}

function writeTable(rows: Row[], load: number): void {
  const begin = '<!-- bench:journal -->';
  const end = '<!-- /bench:journal -->';
  const n = (x: number): string => Math.round(x).toLocaleString('en-US');
  const pct = (x: number): string => `${Math.round(x * 100)}%`;
  const lines = [
    begin,
    '### Native protocol → real systemd-journald',
    '',
    `${entries} entries (\`MESSAGE=bench entry N\`, \`PRIORITY=6\`, a marker field) per run into systemd-journald ` +
      `(volatile storage, rate limit off) in its own mount namespace; ${runs} runs, each running every sender once in ` +
      `alternating order; every run checked: journald stored all entries. ${os.cpus().length} CPUs (load average ` +
      `${load.toFixed(1)} when it started: other work shares them), Linux ${os.release()}, Node ${process.version}. ` +
      'journald shares the CPUs and is the bottleneck (its socket queue holds 10 datagrams), so senders mostly measure ' +
      'how well they wait and how much work they leave journald. Rates are medians with the range over runs; "vs C" is ' +
      'the median (and range) of each run\'s rate over the C sender\'s rate in the same run; CPU is per entry, the ' +
      "sender's own and journald's.",
    '',
    '| sender | entries/s | range over runs | vs C | vs C range | sender CPU µs/entry | journald CPU µs/entry |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.name} | ${n(r.rate)} | ${n(r.minRate)}–${n(r.maxRate)} | ${pct(r.ratio)} | ${pct(r.minRatio)}–${pct(r.maxRatio)} | ` +
        `${r.cpuUs.toFixed(1)} | ${r.journaldUs.toFixed(1)} |`,
    ),
    '',
    'Written by `npm run bench:journal` (packages/core/bench/journal-send.ts; C sender: bench/journal-send.c).',
    end,
  ];
  const section = lines.join('\n');
  let doc = fs.existsSync(docsFile) ? fs.readFileSync(docsFile, 'utf8') : '# Benchmarks\n';
  const a = doc.indexOf(begin);
  const b = doc.indexOf(end);
  if (a !== -1 && b > a) doc = doc.slice(0, a) + section + doc.slice(b + end.length);
  else doc = `${doc.trimEnd()}\n\n${section}\n`;
  fs.writeFileSync(docsFile, doc);
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.error('journal-send bench: needs root (journald runs in a mount namespace)');
    process.exit(2);
  }
  const load = os.loadavg()[0] ?? 0;
  const bin = compileC();
  const senders: [string, Sender][] = [
    ['C, sendmsg per entry (like sd_journal_send)', cSender(bin)],
    ['logwarden `send()`, awaited one by one', awaited],
    [`logwarden \`send()\`, ${WINDOW} in flight`, pipelined()],
    [`logwarden \`send()\`, ${WINDOW} in flight, \`shareDatagrams: false\``, pipelined({ shareDatagrams: false })],
    [`logwarden \`sendPieces()\`, ${WINDOW} in flight`, pieces],
  ];
  const results = new Map<string, Run[]>(senders.map(([name]) => [name, []]));
  const pid = startJournald();
  const socketPath = `/proc/${pid}/root/run/systemd/journal/socket`;
  try {
    for (let run = 0; run < runs; run++) {
      // Alternate the order so that neither side always meets a fresher journal.
      const order = run % 2 === 0 ? senders : [...senders].reverse();
      for (const [name, send] of order) {
        const marker = randomBytes(8).toString('hex');
        const j0 = processCpu(pid);
        const r = await send(socketPath, marker);
        await waitStored(pid, marker);
        const journaldCpuSeconds = processCpu(pid) - j0;
        results.get(name)?.push({ ...r, journaldCpuSeconds });
        console.log(
          `${name}: ${Math.round(entries / r.seconds)} entries/s, ${((r.cpuSeconds / entries) * 1e6).toFixed(1)} µs CPU/entry, ` +
            `journald ${((journaldCpuSeconds / entries) * 1e6).toFixed(1)} µs/entry`,
        );
      }
    }
  } finally {
    process.kill(pid, 'SIGTERM');
    fs.rmSync(path.dirname(bin), { recursive: true, force: true });
  }
  const cRuns = results.get(senders[0]?.[0] ?? '') ?? [];
  const rows: Row[] = senders.map(([name]) => {
    const rs = results.get(name) ?? [];
    const rates = rs.map((r) => entries / r.seconds);
    const ratios = rs.map((r, i) => (entries / r.seconds) / (entries / (cRuns[i]?.seconds ?? NaN)));
    return {
      name,
      rate: median(rates),
      minRate: Math.min(...rates),
      maxRate: Math.max(...rates),
      ratio: median(ratios),
      minRatio: Math.min(...ratios),
      maxRatio: Math.max(...ratios),
      cpuUs: (median(rs.map((r) => r.cpuSeconds)) / entries) * 1e6,
      journaldUs: (median(rs.map((r) => r.journaldCpuSeconds)) / entries) * 1e6,
    };
  });
  for (const r of rows) {
    console.log(
      `${r.name}: median ${Math.round(r.rate)} entries/s, ${Math.round(r.ratio * 100)}% of C (${Math.round(r.minRatio * 100)}-${Math.round(r.maxRatio * 100)}%), ` +
        `${r.cpuUs.toFixed(1)} µs CPU/entry, journald ${r.journaldUs.toFixed(1)} µs/entry`,
    );
  }
  if (process.env.LW_BENCH_WRITE !== '0') writeTable(rows, load);
}

await main();
