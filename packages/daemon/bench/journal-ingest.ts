// Ingest: entries per second taken by logwardend's journald-compatible native socket and written
// to its capped JSON-lines logs, against the real systemd-journald receiving and storing the same
// entries from the same sender, in the same run, alternating. The sender is core's C reference
// sender (packages/core/bench/journal-send.c: one blocking sendmsg per entry, like
// sd_journal_send()); a unix datagram sender blocks once the receiver's queue is full, so its rate
// is the receiver's. Every run is checked at the end on both sides: every entry stored.
//
//   npm run bench:journal -w packages/daemon            200000 entries per run, 3 runs of each
//   LW_BENCH_ENTRIES=50000 LW_BENCH_RUNS=1 ...            a quick look (the table says its size)
// Needs root: journald runs in its own mount namespace (core's test/peers/harness/journald-ns.sh).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HARNESS = fileURLToPath(new URL('../../../core/test/peers/harness/journald-ns.sh', import.meta.url));
const C_SOURCE = fileURLToPath(new URL('../../../core/bench/journal-send.c', import.meta.url));
const MAIN = fileURLToPath(new URL('../src/main.js', import.meta.url));
const DOCS = fileURLToPath(new URL('../../docs/benchmarks.md', import.meta.url));

const ENTRIES = Number(process.env.LW_BENCH_ENTRIES ?? 200_000);
const RUNS = Number(process.env.LW_BENCH_RUNS ?? 3);
// Large enough that every run's entries stay in the chain for the final count (the logs are still capped).
const MAX_SIZE = 64 * 1024 * 1024;
const MAX_BACKUPS = 16;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// utime + stime of a process (all threads), in seconds; USER_HZ is 100 on Linux.
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

interface Receiver {
  name: string;
  pid: number;
  socket: string;
  /** Entries with this marker stored so far. */
  stored(marker: string): number;
  stop(): Promise<void>;
}

function startJournald(): Receiver {
  const pid = Number(execFileSync(HARNESS, { encoding: 'latin1' }).trim());
  if (!Number.isInteger(pid) || pid <= 0) throw new Error('journald did not start');
  return {
    name: 'systemd-journald',
    pid,
    socket: `/proc/${pid}/root/run/systemd/journal/socket`,
    stored(marker) {
      const out = execFileSync('journalctl', ['--directory', `/proc/${pid}/root/run/log/journal`, '--no-pager', '-q', '-o', 'cat', `LWBENCH=${marker}`], {
        maxBuffer: 1024 * 1024 * 1024,
      });
      let n = 0;
      for (const b of out) if (b === 0x0a) n++;
      return n;
    },
    async stop() {
      process.kill(pid, 'SIGTERM');
      await sleep(200);
    },
  };
}

async function startLogwardend(dir: string): Promise<Receiver> {
  const config = join(dir, 'logwardend.toml');
  writeFileSync(config, `[ingest]\nnative_socket = "run/journal/socket"\nmax_size = ${MAX_SIZE}\nmax_backups = ${MAX_BACKUPS}\n`);
  const state = join(dir, 'state');
  const child = spawn(process.execPath, [MAIN, '--config', config, '--state-dir', state], { stdio: ['ignore', 'ignore', 'inherit'] });
  const socket = join(state, 'run/journal/socket');
  const end = Date.now() + 30_000;
  while (!existsSync(socket)) {
    if (child.exitCode !== null || Date.now() > end) throw new Error('logwardend did not start');
    await sleep(20);
  }
  const logDir = join(state, 'log/journal');
  const pid = child.pid;
  if (pid === undefined) throw new Error('logwardend has no pid');
  return {
    name: 'logwardend ingest',
    pid,
    socket,
    stored(marker) {
      const needle = Buffer.from(`"LWBENCH":"${marker}"`);
      let n = 0;
      for (const f of existsSync(logDir) ? readdirSync(logDir) : []) {
        const data = readFileSync(join(logDir, f));
        for (let i = data.indexOf(needle); i !== -1; i = data.indexOf(needle, i + needle.length)) n++;
      }
      return n;
    },
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}

interface Run {
  rate: number;
  cpuUsPerEntry: number;
  senderUsPerEntry: number;
}

async function measure(bin: string, r: Receiver): Promise<Run> {
  const marker = randomBytes(6).toString('hex');
  const cpu0 = cpuSeconds(r.pid);
  const res = spawnSync(bin, [r.socket, String(ENTRIES), marker], { encoding: 'latin1' });
  if (res.status !== 0) throw new Error(`sender failed: ${res.stderr}`);
  const [seconds, senderCpu] = res.stdout.trim().split(' ').map(Number) as [number, number];
  // At most the socket queue (net.unix.max_dgram_qlen datagrams) is still unprocessed here.
  const deadline = Date.now() + 120_000;
  let stored = 0;
  for (;;) {
    stored = r.stored(marker);
    if (stored === ENTRIES) break;
    if (stored > ENTRIES || Date.now() > deadline) throw new Error(`${r.name} stored ${stored} of ${ENTRIES} entries`);
    await sleep(250);
  }
  const cpu = cpuSeconds(r.pid) - cpu0;
  return { rate: ENTRIES / seconds, cpuUsPerEntry: (cpu / ENTRIES) * 1e6, senderUsPerEntry: (senderCpu / ENTRIES) * 1e6 };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

function writeSection(rows: { name: string; rate: number; cpu: number; sender: number; runs: number[] }[], ratio: number, load: number): void {
  const begin = '<!-- bench:journal -->';
  const end = '<!-- /bench:journal -->';
  const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
  const section = [
    begin,
    '## Journal ingest: logwardend vs systemd-journald',
    '',
    `${fmt(ENTRIES)} native-protocol entries per run (\`MESSAGE=bench entry N\`, \`PRIORITY=6\`, a marker field) from core's C ` +
      'reference sender (bench/journal-send.c in packages/core: one blocking `sendmsg` per entry, like `sd_journal_send()`) into ' +
      "each receiver's socket; a datagram sender blocks once the receiver's queue is full, so the sender's rate is the receiver's. " +
      `logwardend (a separate process, \`[ingest] native_socket\`) writes each entry as a journalctl JSON line to a capped rotating log ` +
      `(max_size ${MAX_SIZE / 1024 / 1024} MiB, ${MAX_BACKUPS} backups, on disk); systemd-journald 252 stores it in its journal ` +
      '(volatile storage on tmpfs, rate limit off, own mount namespace). Median of ' +
      `${RUNS} alternating runs; after every run both sides are checked: every entry stored. CPU is the receiver's own ` +
      `(utime + stime) per entry, sender CPU the C sender's own (getrusage). ${os.cpus().length} CPUs (load average ${load.toFixed(1)} at start), Linux ${os.release()}, Node ${process.version}.`,
    '',
    '| receiver | entries/s | receiver CPU µs/entry | sender CPU µs/entry | runs (entries/s) |',
    '|---|---:|---:|---:|---|',
    ...rows.map((r) => `| ${r.name} | ${fmt(r.rate)} | ${r.cpu.toFixed(1)} | ${r.sender.toFixed(1)} | ${r.runs.map(fmt).join(', ')} |`),
    '',
    `logwardend / journald: **${ratio.toFixed(2)}x** (goal >= 2x). Written by \`npm run bench:journal -w packages/daemon\` (bench/journal-ingest.ts).`,
    '',
    'How: the native socket is read with `recvmmsg` (core\'s native layer; ~10 datagrams per call here, where ' +
      'net.unix.max_dgram_qlen is 10, instead of one `recvmsg` and one sender wakeup each: context switches of sender and ' +
      'receiver together fell from ~1.1 to ~0.16 per entry, perf stat; SO_RCVBUF does not matter here: an AF_UNIX ' +
      'datagram queue holds max_dgram_qlen + 1 datagrams whatever the receive buffer, 11 at 2 KiB as at 16 MiB); the parser finds field names in one pass over the bytes and reuses their strings, ' +
      'the trusted fields are built once per sender, and JSON lines are assembled from cached `,"NAME":` prefixes and a ' +
      'timestamp head written as bytes. Before these changes the same bench gave 1.60x (132,236 vs 82,681 entries/s, ' +
      'receiver 7.5 µs/entry). logwardend now waits for the sender part of the time (a CPU profile shows it idle ~35%): ' +
      'the C sender\'s own cost per entry bounds the rate.',
    end,
  ].join('\n');
  let doc = existsSync(DOCS) ? readFileSync(DOCS, 'utf8') : '# logwardend benchmarks\n';
  const a = doc.indexOf(begin);
  const b = doc.indexOf(end);
  doc = a !== -1 && b > a ? doc.slice(0, a) + section + doc.slice(b + end.length) : `${doc.trimEnd()}\n\n${section}\n`;
  writeFileSync(DOCS, doc);
}

async function main(): Promise<void> {
  if (!Number.isInteger(ENTRIES) || ENTRIES < 1 || !Number.isInteger(RUNS) || RUNS < 1) {
    console.error('LW_BENCH_ENTRIES and LW_BENCH_RUNS must be positive integers');
    process.exit(2);
  }
  if (process.getuid?.() !== 0) {
    console.error('journal-ingest bench: needs root (journald runs in a mount namespace)');
    process.exit(2);
  }
  const load = os.loadavg()[0] ?? 0;
  const dir = mkdtempSync(join(os.tmpdir(), 'lw-bench-ingest-'));
  const bin = join(dir, 'journal-send');
  execFileSync('cc', ['-O2', '-o', bin, C_SOURCE], { stdio: 'inherit' });
  const receivers = [startJournald(), await startLogwardend(dir)];
  const results = new Map<string, Run[]>(receivers.map((r) => [r.name, []]));
  try {
    for (let run = 0; run < RUNS; run++) {
      for (const r of run % 2 === 0 ? receivers : [...receivers].reverse()) {
        const m = await measure(bin, r);
        results.get(r.name)?.push(m);
        console.log(
          `run ${run + 1} ${r.name}: ${Math.round(m.rate)} entries/s, ${m.cpuUsPerEntry.toFixed(1)} µs CPU/entry (sender ${m.senderUsPerEntry.toFixed(1)}), all ${ENTRIES} stored`,
        );
      }
    }
  } finally {
    for (const r of receivers) await r.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  const rows = receivers.map((r) => {
    const runs = results.get(r.name) ?? [];
    return {
      name: r.name,
      rate: median(runs.map((x) => x.rate)),
      cpu: median(runs.map((x) => x.cpuUsPerEntry)),
      sender: median(runs.map((x) => x.senderUsPerEntry)),
      runs: runs.map((x) => x.rate),
    };
  });
  const [journald, ours] = rows;
  const ratio = (ours?.rate ?? NaN) / (journald?.rate ?? NaN);
  for (const r of rows) console.log(`${r.name}: ${Math.round(r.rate)} entries/s, ${r.cpu.toFixed(1)} µs CPU/entry`);
  console.log(`logwardend / journald: ${ratio.toFixed(2)}x (goal >= 2x)`);
  writeSection(rows, ratio, load);
}

await main();
