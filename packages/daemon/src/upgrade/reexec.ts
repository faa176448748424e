// execve in place, keeping exactly the fds the next image needs: CLOEXEC is cleared on those fds
// right before the call and set again if it returns (it only returns by failing).
import { execve, getCloexec, setCloexec } from '@logwarden/core/native';

/** Environment variable overriding the program the daemon re-executes (tests, staged installs). */
export const UPGRADE_EXEC_ENV = 'LOGWARDEN_UPGRADE_EXEC';

export interface ExecPlan {
  path: string;
  argv: string[];
  env: string[];
}

// A SIGUSR1 that reaches the next image during Node's start-up opens the inspector (until main.ts
// catches the signal, and lifecycle.ts closes it again); this keeps the inspector's address, which
// lets anyone who reaches 127.0.0.1:9229 run code in the daemon, off its HTTP listing.
const INSPECT_UID_FLAG = '--inspect-publish-uid=stderr';

/**
 * The same program and arguments this process runs (plus INSPECT_UID_FLAG unless a choice was
 * made already), with `extraEnv` on top of the current environment.
 */
export function planReexec(extraEnv: Record<string, string>): ExecPlan {
  const override = process.env[UPGRADE_EXEC_ENV];
  const path = override !== undefined && override !== '' ? override : process.execPath;
  const nodeFlags = process.execArgv.some((f) => f.startsWith('--inspect-publish-uid')) ? process.execArgv : [...process.execArgv, INSPECT_UID_FLAG];
  const argv = [path, ...nodeFlags, ...process.argv.slice(1)];
  const env = { ...process.env, ...extraEnv };
  return { path, argv, env: Object.entries(env).flatMap(([k, v]) => (v === undefined ? [] : [`${k}=${v}`])) };
}

// Variables that hand this process's fds, service-manager channels or state over: the canary owns
// none of them and must not act on them.
const HANDOVER_ENV = ['LOGWARDEN_UPGRADE_STATE', 'LISTEN_PID', 'LISTEN_FDS', 'LISTEN_FDNAMES', 'NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID'];

/**
 * The program and arguments planReexec would exec, with `flag` added, for a child run of the new
 * image (upgrade/canary.ts). No inspector flags: the child would fight this process for its port
 * (or, with --inspect-brk, wait for a debugger).
 */
export function canaryPlan(flag: string): { path: string; args: string[]; env: NodeJS.ProcessEnv } {
  const override = process.env[UPGRADE_EXEC_ENV];
  const path = override !== undefined && override !== '' ? override : process.execPath;
  const nodeFlags = process.execArgv.filter((f) => !f.startsWith('--inspect'));
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !HANDOVER_ENV.includes(name)));
  return { path, args: [...nodeFlags, ...process.argv.slice(1), flag], env };
}

/** Never returns normally; throws the execve SysError after restoring CLOEXEC on `keepFds`. */
export function reexec(plan: ExecPlan, keepFds: readonly number[]): never {
  const cleared: number[] = [];
  try {
    for (const fd of keepFds) {
      if (!getCloexec(fd)) continue;
      setCloexec(fd, false);
      cleared.push(fd);
    }
    // SIGUSR1 stays blocked across the exec: Node keeps it blocked from its first steps until its own
    // handler is in, so a second upgrade request during the exec waits instead of ending the process
    // and every pipe. (Node clears an inherited block of SIGHUP/SIGTERM/SIGINT early in its start-up,
    // so blocking those here would not protect the new image: measured, see signals.test.ts.)
    return execve(plan.path, plan.argv, plan.env, { blockSignals: ['SIGUSR1'] });
  } catch (err) {
    // A failed exec must not leave fds that a later child process (or exec) would inherit.
    for (const fd of cleared) setCloexec(fd, true);
    throw err;
  }
}
