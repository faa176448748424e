// Shared helpers for the native tests: temp dirs, fd flag checks, bounded waits.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import { close, constants, fcntlGetFd, fcntlGetFl } from '../../src/native/index.js';

export function tempDir(t: ExecutionContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lw-native-'));
  t.teardown(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** Asserts the fd flags every creating call promises by default. */
export function assertFlags(t: ExecutionContext, fd: number, want: { cloexec: boolean; nonblock?: boolean }): void {
  t.is((fcntlGetFd(fd) & constants.FD_CLOEXEC) !== 0, want.cloexec, `fd ${fd} FD_CLOEXEC`);
  if (want.nonblock !== undefined) {
    t.is((fcntlGetFl(fd) & constants.O_NONBLOCK) !== 0, want.nonblock, `fd ${fd} O_NONBLOCK`);
  }
}

/** Polls cond every few ms until it holds; fails after a generous bound (loaded CI machines). */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Rejects if the promise does not settle in time, so a hang fails with a reason. */
export async function within<T>(p: Promise<T>, what: string, timeoutMs = 20_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`timed out: ${what}`));
    }, timeoutMs);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const owned = new WeakMap<ExecutionContext, Set<number>>();

/**
 * Registers fds to close at teardown. Every fd must be closed exactly once: worker threads share
 * the process's fd table, so a second close could hit another test's fd (and make libuv abort
 * when that fd was being polled).
 */
export function own(t: ExecutionContext, ...fds: number[]): void {
  let set = owned.get(t);
  if (set === undefined) {
    const created = new Set<number>();
    owned.set(t, created);
    t.teardown(() => {
      for (const fd of created) close(fd);
    });
    set = created;
  }
  for (const fd of fds) set.add(fd);
}

/**
 * Closes at teardown an fd opened with node:fs (fs.openSync), with fs.closeSync: in a worker thread
 * Node tracks those fds and closes the ones still tracked when the worker exits, so closing one
 * with the native close() would have it closed a second time then, whoever holds the number by then.
 */
export function ownFile(t: ExecutionContext, ...fds: number[]): void {
  t.teardown(() => {
    for (const fd of fds) fs.closeSync(fd);
  });
}

/** Closes an fd registered with own() now instead of at teardown. */
export function closeOwned(t: ExecutionContext, fd: number): void {
  if (owned.get(t)?.delete(fd) !== true) throw new Error(`fd ${fd} is not owned by this test`);
  close(fd);
}
