// Exec headroom: from the last read before execve to the first read of the next image nobody reads
// the guests' pipes (Node's start-up, ~100 ms here), and a guest that writes more than its pipe
// holds in that window blocks. So right before the synchronous exec steps the old process widens
// each open log's pipe (F_SETPIPE_SZ): the kernel buffers what guests write meanwhile. The next
// image, once it reads again, shrinks each pipe back to the size it had (the kernel refuses, EBUSY,
// while the pipe holds more than that: retried on a timer). A pipe allocates a page only when a
// guest writes into it (and frees it once read), so the bound costs memory only for what guests
// write during the window, plus the slot ring (40 bytes per 4 KiB page of size) while widened.
import { readFileSync } from 'node:fs';
import { fstat, getPipeSize, isSysError, setPipeSize } from '@logwarden/core/native';
import type { LogState } from '../log-handler.js';
import type { Logger } from '../logger.js';
import type { WidenedPipe } from './state.js';

/**
 * The most one pipe is widened to: the largest the kernel makes here. It allocates the pipe's slot
 * ring in one piece (kcalloc, 40 bytes per 4 KiB page): 256 MiB is a 2.5 MiB ring, allocated 100
 * times in a row here without a failure (0.1-0.3 ms, up to 24 ms when the allocator must first make
 * room); 512 MiB always fails (ENOMEM: the ring exceeds kmalloc's 4 MiB). A writer with nobody reading
 * fills 256 MiB in 170-520 ms here (500-1500 MiB/s), about as long as an exec pauses on this loaded
 * 2-core machine (docs/benchmarks.md); 128 MiB did not last.
 */
export const HEADROOM_PER_LOG_MAX = 256 * 1024 * 1024;
// The smallest pipe the kernel makes (one page); sizes are rounded up to a power of two pages.
const MIN_PIPE = 4096;
// Shrink retries: first soon after the next image reads again, then backing off; given up after
// GIVE_UP_MS (a guest that outwrites the daemon for that long keeps its pipe widened until the next
// upgrade, which retries, or until the log closes: still within exec_headroom).
const FIRST_RETRY_MS = 20;
const MAX_RETRY_MS = 1000;
const GIVE_UP_MS = 5 * 60 * 1000;

/** Each open log's widened size: its share of `total`, at most HEADROOM_PER_LOG_MAX, a power of two (0: none). */
export function headroomShare(total: number, openLogs: number): number {
  if (openLogs === 0) return 0;
  const share = Math.min(HEADROOM_PER_LOG_MAX, Math.floor(total / openLogs));
  if (share < MIN_PIPE) return 0;
  let size = MIN_PIPE;
  while (size * 2 <= share) size *= 2;
  return size;
}

interface Pending {
  rel: string;
  fd: number;
  /** The pipe's identity: a closed log's fd number may be reused by anything. */
  dev: bigint;
  ino: bigint;
  /** The size it goes back to. */
  size: number;
  /** When shrinking began (performance.now()). */
  since: number;
  givenUp: boolean;
}

/** Why the kernel gave less than asked (reported once per upgrade). */
type Limit = 'pipe-max-size' | 'pipe-user-pages' | 'memory';

function pipeMaxSize(): number | null {
  try {
    const n = Number(readFileSync('/proc/sys/fs/pipe-max-size', 'utf8').trim());
    return Number.isSafeInteger(n) && n >= MIN_PIPE ? n : null;
  } catch {
    return null;
  }
}

function identity(fd: number): { dev: bigint; ino: bigint } | null {
  try {
    const st = fstat(fd);
    return { dev: st.dev, ino: st.ino };
  } catch {
    return null;
  }
}

/** Widens the open logs' pipes for an exec and shrinks them back afterwards (in this process after a failed exec, else in the next). */
export class ExecHeadroom {
  readonly #logger: Logger;
  readonly #pending = new Map<number, Pending>();
  #timer: NodeJS.Timeout | null = null;
  #delay = FIRST_RETRY_MS;
  /** settle() callers, told when no pipe is left to shrink. */
  readonly #waiters = new Set<() => void>();

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  /** After a re-exec: the pipes the previous process widened (`widened`, by log) get their size back. */
  static resumed(widened: readonly WidenedPipe[], logs: readonly LogState[], logger: Logger): ExecHeadroom {
    const headroom = new ExecHeadroom(logger);
    const fds = new Map(logs.flatMap((l) => (l.readFd === null ? [] : [[l.rel, l.readFd] as const])));
    for (const w of widened) {
      const fd = fds.get(w.rel);
      const id = fd === undefined ? null : identity(fd);
      if (fd !== undefined && id !== null) headroom.#pending.set(fd, { rel: w.rel, fd, ...id, size: w.size, since: 0, givenUp: false });
    }
    headroom.shrinkBack();
    return headroom;
  }

  /**
   * After a crash (the fd store handed the pipes back): a pipe wider than `pipeSize` was most likely
   * widened for an exec the crash cut short, and nobody knows its size from before; it gets `pipeSize`.
   */
  static afterCrash(logs: readonly LogState[], pipeSize: number, logger: Logger): ExecHeadroom {
    const headroom = new ExecHeadroom(logger);
    // What the kernel makes of pipe_size: a power of two pages.
    let configured = MIN_PIPE;
    while (configured < pipeSize) configured *= 2;
    for (const l of logs) {
      if (l.readFd === null) continue;
      let size: number;
      try {
        size = getPipeSize(l.readFd);
      } catch {
        continue;
      }
      const id = identity(l.readFd);
      if (size > configured && id !== null) headroom.#pending.set(l.readFd, { rel: l.rel, fd: l.readFd, ...id, size: configured, since: 0, givenUp: false });
    }
    headroom.shrinkBack();
    return headroom;
  }

  /**
   * Widens every open log's pipe to its share of `total` bytes (headroomShare), never narrowing one.
   * The kernel may refuse: EPERM above /proc/sys/fs/pipe-max-size without CAP_SYS_RESOURCE (then
   * that size is used) or past an unprivileged user's pipe pages (then the rest stay as they are),
   * ENOMEM for the ring (then half the size). Never throws: an upgrade does not depend on it.
   */
  widen(logs: readonly LogState[], total: number): void {
    const open = logs.flatMap((l) => (l.readFd === null ? [] : [{ rel: l.rel, fd: l.readFd }]));
    const share = headroomShare(total, open.length);
    if (share === 0) return;
    const started = performance.now();
    let cap = share;
    let limit: Limit | null = null;
    let widened = 0;
    for (const { rel, fd } of open) {
      if (limit === 'pipe-user-pages') break;
      let before: number;
      try {
        before = getPipeSize(fd);
      } catch (err) {
        this.#logger.warn('exec headroom: cannot read a pipe size', { path: rel, err });
        continue;
      }
      let want = cap;
      while (want > before) {
        try {
          setPipeSize(fd, want);
          const id = identity(fd);
          const known = this.#pending.get(fd);
          const kept = known !== undefined && id !== null && known.ino === id.ino && known.dev === id.dev;
          if (id !== null && !kept) this.#pending.set(fd, { rel, fd, ...id, size: before, since: 0, givenUp: false });
          widened++;
          break;
        } catch (err) {
          if (isSysError(err, 'EPERM')) {
            const max = pipeMaxSize();
            if (max !== null && want > max) {
              limit = 'pipe-max-size';
              cap = want = max;
            } else {
              limit = 'pipe-user-pages';
              break;
            }
          } else if (isSysError(err, 'ENOMEM')) {
            limit = 'memory';
            cap = want = want / 2;
          } else {
            this.#logger.warn('exec headroom: cannot widen a pipe', { path: rel, err });
            break;
          }
        }
      }
    }
    const fields = { pipes: widened, logs: open.length, size: cap, ms: Math.round((performance.now() - started) * 10) / 10 };
    if (limit === null) this.#logger.debug('exec headroom: pipes widened for the exec', fields);
    else this.#logger.info('exec headroom: the kernel gave less than asked', { ...fields, asked: share, limitedBy: limit });
  }

  /** The widened pipes that are still this process's, with the size each goes back to (for the next image). */
  carried(): WidenedPipe[] {
    const out: WidenedPipe[] = [];
    for (const p of this.#pending.values()) if (this.#stillOurs(p)) out.push({ rel: p.rel, size: p.size });
    return out;
  }

  /** Gives every widened pipe its size back: now if it holds little enough, else retried on a timer. */
  shrinkBack(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    const now = performance.now();
    for (const p of this.#pending.values()) {
      p.since = now;
      p.givenUp = false;
    }
    this.#delay = FIRST_RETRY_MS;
    this.#schedule();
  }

  /**
   * Resolves once every widened pipe is back to its size, or after `timeoutMs`. A pipe still widened
   * from the last exec is full (its guest outwrote the daemon since): widening it again would give
   * no room, so an upgrade first gives the daemon this long to catch up, while it still reads.
   */
  settle(timeoutMs: number): Promise<void> {
    if (this.#pending.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.#waiters.add(done);
      this.shrinkBack();
    });
  }

  /** Stops retrying (a clean stop); pipes not yet shrunk keep their size until they close. */
  close(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    for (const done of [...this.#waiters]) done();
  }

  #schedule(): void {
    if (this.#pending.size === 0 || this.#timer !== null) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#retry();
    }, this.#delay);
    // A pipe waiting to shrink must not keep an idle daemon alive.
    this.#timer.unref();
    // An upgrade waiting in settle() wants the first moment the pipe has room: no backing off then.
    if (this.#waiters.size === 0) this.#delay = Math.min(this.#delay * 2, MAX_RETRY_MS);
  }

  #retry(): void {
    const now = performance.now();
    for (const p of [...this.#pending.values()]) {
      if (!this.#stillOurs(p) || this.#shrink(p, now)) {
        this.#pending.delete(p.fd);
      } else if (!p.givenUp && now - p.since > GIVE_UP_MS) {
        p.givenUp = true;
        this.#logger.info('exec headroom: pipe stays widened (its guest keeps it full); retried after the next upgrade', { path: p.rel, size: getPipeSize(p.fd) });
      }
    }
    if (this.#pending.size === 0) for (const done of [...this.#waiters]) done();
    else if ([...this.#pending.values()].some((p) => !p.givenUp)) this.#schedule();
  }

  /**
   * Tries the size the pipe goes back to, then each power of two up to its current size: the
   * kernel refuses a size below what the pipe holds (EBUSY), and each step down already bounds what
   * a guest can pile up. Small sizes first: a refused try still allocates the new ring.
   */
  #shrink(p: Pending, now: number): boolean {
    let current: number;
    try {
      current = getPipeSize(p.fd);
    } catch {
      return true;
    }
    if (current <= p.size) return true;
    for (let size = p.size; size < current; size *= 2) {
      try {
        setPipeSize(p.fd, size);
        if (size === p.size) {
          this.#logger.debug('exec headroom: pipe back to its size', { path: p.rel, size, afterMs: Math.round(now - p.since) });
          return true;
        }
        return false;
      } catch (err) {
        if (!isSysError(err, 'EBUSY') && !isSysError(err, 'ENOMEM')) {
          this.#logger.warn('exec headroom: cannot shrink a pipe back', { path: p.rel, size: p.size, err });
          return true;
        }
      }
    }
    return false;
  }

  #stillOurs(p: Pending): boolean {
    const id = identity(p.fd);
    return id !== null && id.dev === p.dev && id.ino === p.ino;
  }
}
