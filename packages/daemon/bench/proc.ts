// What the benchmarks measure of a daemon process, read from /proc: CPU seconds (user + system,
// all threads), resident memory, and which pipes it still holds.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

// USER_HZ: the unit of utime/stime in /proc/PID/stat on every Linux architecture Node runs on.
const TICKS_PER_SECOND = 100;

export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start at ") ": utime is field 14.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  return m === null ? 0 : Number(m[1]) * 1024;
}

/** True while `pid` holds an fd on the pipe with this inode. */
export function holdsPipe(pid: number, inode: bigint): boolean {
  const want = `pipe:[${inode}]`;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`) === want) return true;
    } catch {
      // Closed between readdir and readlink.
    }
  }
  return false;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls until `cond` holds; throws after `ms`. */
export async function until(cond: () => boolean, what: string, ms = 600_000, every = 5): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(every);
  }
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] ?? Number.NaN;
}
