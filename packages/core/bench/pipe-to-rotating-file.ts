// Pipe -> rotating file: the daemon's hot path (FdPoller + writer.writeFromPipe, 1 MiB files,
// 3 backups) against `cat > file`, both fed by the same producer process in the same run.
//
//   npm run bench                       1 GiB per run, 3 runs of each, table into docs/benchmarks.md
//   LW_BENCH_MIB=64 npm run bench       a quick run (the table is still written, with its size)
//   LW_BENCH_RUNS=1 LW_BENCH_WINDOW=N   fewer runs; scratch look-back window in bytes
//   LW_BENCH_DIRS=/tmp,/dev/shm         where the files go (default: os.tmpdir(), and /dev/shm if
//                                       present: a disk, where cat pays for writeback of its one
//                                       growing file, and tmpfs, where only CPU cost shows)
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FdPoller, close, pipe, setNonblock } from '../src/native/index.js';
import { DEFAULT_WINDOW, PipeScratch, RotatingFileWriter } from '../src/rotating-file/index.js';

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;
const here = path.dirname(new URL(import.meta.url).pathname);
const producerScript = path.join(here, 'producer.js');
const docsFile = path.join(here, '..', '..', 'docs', 'benchmarks.md');

const mib = Number(process.env.LW_BENCH_MIB ?? process.argv[2] ?? 1024);
const runs = Number(process.env.LW_BENCH_RUNS ?? 3);
const window = Number(process.env.LW_BENCH_WINDOW ?? DEFAULT_WINDOW);
if (!Number.isInteger(mib) || mib < 1 || !Number.isInteger(runs) || runs < 1) {
  console.error('LW_BENCH_MIB and LW_BENCH_RUNS must be positive integers');
  process.exit(2);
}
const total = mib * MIB;
const benchDirs = (process.env.LW_BENCH_DIRS ?? [os.tmpdir(), ...(fs.existsSync('/dev/shm') ? ['/dev/shm'] : [])].join(','))
  .split(',')
  .filter((d) => d !== '');
const clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'latin1' }).trim());

interface Result {
  seconds: number;
  cpuSeconds: number;
}

function spawnProducer(writeFd: number): ReturnType<typeof spawn> {
  return spawn(process.execPath, [producerScript, String(total)], { stdio: ['ignore', writeFd, 'inherit'] });
}

function exited(child: ReturnType<typeof spawn>): Promise<number | null> {
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => {
      resolve(code);
    });
  });
}

async function runOurs(dir: string): Promise<Result> {
  const base = path.join(dir, 'ours.log');
  const writer = RotatingFileWriter.open(base, { maxSize: MIB, maxBackups: 3, truncate: true });
  const scratch = PipeScratch.create({ window });
  // The producer blocks on its end; ours polls. O_NONBLOCK is per open file, so set it on one end.
  const { readFd, writeFd } = pipe({ nonblock: false, size: MIB });
  setNonblock(readFd, true);
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const producer = spawnProducer(writeFd);
  close(writeFd);
  await new Promise<void>((resolve) => {
    const poller = new FdPoller(readFd, () => {
      for (;;) {
        const n = writer.writeFromPipe(readFd, scratch);
        if (n === null) return;
        if (n === 0) {
          poller.close();
          resolve();
          return;
        }
      }
    });
    poller.start({ readable: true });
  });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  if ((await exited(producer)) !== 0) throw new Error('producer failed');
  close(readFd);
  scratch.close();
  const { bytesWritten, bytesDropped } = writer.stats;
  writer.close();
  if (bytesWritten !== total || bytesDropped !== 0) throw new Error(`wrote ${bytesWritten}/${total}, dropped ${bytesDropped}`);
  for (const f of fs.readdirSync(dir)) {
    if (f.startsWith('ours.log') && fs.statSync(path.join(dir, f)).size > MIB) throw new Error(`${f} exceeds maxSize`);
  }
  return { seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
}

async function runCat(dir: string): Promise<Result> {
  const file = path.join(dir, 'cat.log');
  const { readFd, writeFd } = pipe({ nonblock: false, size: MIB });
  const t0 = process.hrtime.bigint();
  const producer = spawnProducer(writeFd);
  // After cat exits, the shell's /proc stat holds cat's CPU time in cutime/cstime.
  const shell = spawn('/bin/sh', ['-c', 'cat > "$1"; read -r s < /proc/$$/stat; echo "$s"', 'sh', file], {
    stdio: [readFd, 'pipe', 'inherit'],
  });
  close(readFd);
  close(writeFd);
  let out = '';
  shell.stdout?.setEncoding('latin1').on('data', (s: string) => (out += s));
  const [code] = await Promise.all([exited(shell), exited(producer)]);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (code !== 0) throw new Error('cat failed');
  const size = fs.statSync(file).size;
  fs.unlinkSync(file);
  if (size !== total) throw new Error(`cat wrote ${size}/${total}`);
  const fields = out.slice(out.lastIndexOf(')') + 2).trim().split(' ');
  // Fields after "pid (comm) ": state is field 3, cutime field 16, cstime field 17.
  const ticks = Number(fields[16 - 3]) + Number(fields[17 - 3]);
  return { seconds, cpuSeconds: ticks / clockTicks };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

function summarize(results: Result[]): { mbps: number; cpuPerGib: number } {
  return {
    mbps: median(results.map((r) => total / 1e6 / r.seconds)),
    cpuPerGib: median(results.map((r) => (r.cpuSeconds * GIB) / total)),
  };
}

function writeSection(table: string): void {
  const begin = '<!-- bench:pipe -->';
  const end = '<!-- /bench:pipe -->';
  const section = `${begin}\n${table}${end}`;
  let doc = fs.existsSync(docsFile) ? fs.readFileSync(docsFile, 'utf8') : '# Benchmarks\n';
  const a = doc.indexOf(begin);
  const b = doc.indexOf(end);
  if (a >= 0 && b > a) doc = doc.slice(0, a) + section + doc.slice(b + end.length);
  else doc = `${doc.trimEnd()}\n\n${section}\n`;
  fs.writeFileSync(docsFile, doc);
}

async function measure(benchDir: string): Promise<string> {
  const dir = fs.mkdtempSync(path.join(benchDir, 'lw-bench-pipe-'));
  try {
    const ours: Result[] = [];
    const cat: Result[] = [];
    for (let i = 0; i < runs; i++) {
      cat.push(await runCat(dir));
      ours.push(await runOurs(dir));
      const c = cat.at(-1) as Result;
      const o = ours.at(-1) as Result;
      console.log(
        `${benchDir} run ${i + 1}: cat ${(total / 1e6 / c.seconds).toFixed(0)} MB/s ${c.cpuSeconds.toFixed(2)} s CPU; ` +
          `logwarden ${(total / 1e6 / o.seconds).toFixed(0)} MB/s ${o.cpuSeconds.toFixed(2)} s CPU`,
      );
    }
    const o = summarize(ours);
    const c = summarize(cat);
    return (
      `| ${benchDir} | logwarden | ${o.mbps.toFixed(0)} | ${o.cpuPerGib.toFixed(2)} | ${((o.mbps / c.mbps) * 100).toFixed(0)}% |\n` +
      `| ${benchDir} | \`cat > file\` | ${c.mbps.toFixed(0)} | ${c.cpuPerGib.toFixed(2)} | 100% |\n`
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const load = os.loadavg()[0] ?? 0;
  let rows = '';
  for (const d of benchDirs) rows += await measure(d);
  const table =
    `### Pipe → rotating file\n\n` +
    `${mib} MiB of 128-byte lines from a producer process through a ${MIB / 1024} KiB pipe into: ` +
    `logwarden's FdPoller + \`writeFromPipe\` (1 MiB files, 3 backups, look-back window ${window / 1024} KiB), ` +
    `or \`/bin/sh -c 'cat > file'\` (one growing file). Median of ${runs} alternating runs; ` +
    `${os.cpus().length} CPUs, Linux ${os.release()}, Node ${process.version}. ` +
    `CPU is the consumer's own (the producer is the same for both). Load average at the start: ` +
    `${load.toFixed(1)} (other work shares the machine: compare rows of one run only). ` +
    `On a disk, cat's one growing file goes to writeback while the chain keeps 4 MiB whose dropped ` +
    `files are mostly freed before writeback; tmpfs shows the CPU path alone. A rotation unlinks the file ` +
    `it drops before renaming the others (no rename replaces a file): when the oldest backup was replaced ` +
    `by rename, ext4 (auto_da_alloc) flushed at every rotation and /tmp gave 552 MB/s, 1.02 CPU s per GiB ` +
    `(same machine, load average 1.2).\n\n` +
    `| directory | consumer | MB/s | CPU s per GiB | throughput vs cat |\n` +
    `|---|---|---:|---:|---:|\n` +
    rows +
    `\nWritten by \`npm run bench\` (packages/core/bench/pipe-to-rotating-file.ts).\n`;
  console.log(`\n${table}`);
  writeSection(table);
}

await main();
