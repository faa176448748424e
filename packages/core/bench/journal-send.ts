// Native-protocol entries per second into the real systemd-journald: logwarden's JournalClient
// against a C sender doing what sd_journal_send() does (bench/journal-send.c, compiled with cc
// here), in the same run, alternating. Every run is checked: journald must have stored all entries.
//
//   npm run bench:journal                  100000 entries per run, 3 runs of each sender
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
const runs = Number(process.env.LW_BENCH_RUNS ?? 3);
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

// Fire-and-collect with a bounded window: the shape of a daemon forwarding logs.
const pipelined: Sender = async (socketPath, marker) => {
  const client = new JournalClient({ path: socketPath });
  client.open();
  try {
    return await timed(async () => {
      let batch: Promise<void>[] = [];
      for (let i = 0; i < entries; i++) {
        batch.push(client.send({ MESSAGE: `bench entry ${i}`, PRIORITY: '6', LWBENCH: marker }));
        if (batch.length === WINDOW) {
          await Promise.all(batch);
          batch = [];
        }
      }
      await Promise.all(batch);
    });
  } finally {
    client.close();
  }
};

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
    return await timed(async () => {
      let batch: Promise<void>[] = [];
      for (let i = 0; i < entries; i++) {
        batch.push(client.sendPieces([kMessage, Buffer.from(`bench entry ${i}`), kPriority, six, kBench, mark]));
        if (batch.length === WINDOW) {
          await Promise.all(batch);
          batch = [];
        }
      }
      await Promise.all(batch);
    });
  } finally {
    client.close();
  }
};

function startJournald(): number {
  const pid = Number(execFileSync(harness, { encoding: 'latin1' }).trim());
  if (!Number.isInteger(pid) || pid <= 0) throw new Error('journald did not start');
  return pid;
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

function writeTable(rows: { name: string; rate: number; cpuUs: number }[], cRate: number, load: number): void {
  const begin = '<!-- bench:journal -->';
  const end = '<!-- /bench:journal -->';
  const lines = [
    begin,
    '### Native protocol → real systemd-journald',
    '',
    `${entries} entries (\`MESSAGE=bench entry N\`, \`PRIORITY=6\`, a marker field) per run into systemd-journald ` +
      `(volatile storage, rate limit off) in its own mount namespace; median of ${runs} alternating runs; every run checked: ` +
      `journald stored all entries. ${os.cpus().length} CPUs (load average ${load.toFixed(1)} when it started: other work shares them), ` +
      `Linux ${os.release()}, Node ${process.version}. ` +
      'journald shares the CPUs and is the bottleneck (the socket queue is full most of the time), so senders mostly measure how ' +
      'well they wait; CPU is the sender\'s own per entry.',
    '',
    '| sender | entries/s | sender CPU µs/entry | rate vs C |',
    '|---|---:|---:|---:|',
    ...rows.map((r) => `| ${r.name} | ${Math.round(r.rate).toLocaleString('en-US')} | ${r.cpuUs.toFixed(1)} | ${Math.round((r.rate / cRate) * 100)}% |`),
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
    [`logwarden \`send()\`, ${WINDOW} in flight`, pipelined],
    [`logwarden \`sendPieces()\`, ${WINDOW} in flight`, pieces],
  ];
  const results = new Map<string, Result[]>(senders.map(([n]) => [n, []]));
  const pid = startJournald();
  const socketPath = `/proc/${pid}/root/run/systemd/journal/socket`;
  try {
    for (let run = 0; run < runs; run++) {
      // Alternate the order so that neither side always meets a fresher journal.
      const order = run % 2 === 0 ? senders : [...senders].reverse();
      for (const [name, send] of order) {
        const marker = randomBytes(8).toString('hex');
        const r = await send(socketPath, marker);
        await waitStored(pid, marker);
        results.get(name)?.push(r);
        console.log(`${name}: ${Math.round(entries / r.seconds)} entries/s, ${((r.cpuSeconds / entries) * 1e6).toFixed(1)} µs CPU/entry`);
      }
    }
  } finally {
    process.kill(pid, 'SIGTERM');
    fs.rmSync(path.dirname(bin), { recursive: true, force: true });
  }
  const rows = senders.map(([name]) => {
    const rs = results.get(name) ?? [];
    return { name, rate: entries / median(rs.map((r) => r.seconds)), cpuUs: (median(rs.map((r) => r.cpuSeconds)) / entries) * 1e6 };
  });
  const cRate = rows[0]?.rate ?? NaN;
  for (const r of rows) console.log(`${r.name}: median ${Math.round(r.rate)} entries/s (${Math.round((r.rate / cRate) * 100)}% of C), ${r.cpuUs.toFixed(1)} µs CPU/entry`);
  if (process.env.LW_BENCH_WRITE !== '0') writeTable(rows, cRate, load);
}

await main();
