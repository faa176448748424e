// Before an in-place upgrade, the new image is run once as a child (`--check-upgrade`): execve only
// fails for a missing or unexecutable program, while an image that starts and then dies (a broken
// dist, a configuration it refuses, a state format it cannot read) would take every guest pipe with
// it. The child loads what the new image loads (main.ts, resume, lifecycle), reads the
// configuration and decodes a snapshot of the state through the same sealed memfd path as the real
// hand-over (upgrade/check.ts). It runs before anything is suspended: the daemon serves meanwhile.
import { spawn } from 'node:child_process';
import { close } from '@logwarden/core/native';
import { createStateRecord } from '../systemd/state-record.js';
import { canaryPlan } from './reexec.js';
import { encodeState, type DaemonState } from './state.js';

/** The flag that makes logwardend check that it could take over, then exit (0: it could). */
export const CHECK_UPGRADE_FLAG = '--check-upgrade';
export const CANARY_TIMEOUT_MS = 10_000;
// The end of the child's stderr kept for the reason (its last line says why it failed).
const STDERR_KEEP = 4096;

/** Resolves when the new image passed the check; otherwise rejects with an Error saying why. */
export async function runCanary(state: DaemonState, timeoutMs = CANARY_TIMEOUT_MS): Promise<void> {
  const stateFd = createStateRecord(encodeState(state));
  try {
    await check(stateFd, timeoutMs);
  } finally {
    close(stateFd);
  }
}

function check(stateFd: number, timeoutMs: number): Promise<void> {
  const plan = canaryPlan(CHECK_UPGRADE_FLAG);
  return new Promise((resolve, reject) => {
    const child = spawn(plan.path, plan.args, { env: plan.env, stdio: [stateFd, 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (s: string) => {
      stderr = (stderr + s).slice(-STDERR_KEEP);
    });
    let settled = false;
    const settle = (why: string | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (why === null) {
        resolve();
        return;
      }
      const last = stderr.trim().split('\n').pop() ?? '';
      reject(new Error(`${CHECK_UPGRADE_FLAG}: ${why}${last === '' ? '' : `: ${last}`}`));
    };
    // Settled at once, not at 'close': a grandchild may hold the stderr pipe open for long.
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      child.stderr?.destroy();
      settle(`no answer within ${timeoutMs} ms`);
    }, timeoutMs);
    child.once('error', (err: NodeJS.ErrnoException) => {
      settle(`spawn ${plan.path}: ${err.code ?? err.message}`);
    });
    child.once('close', (code, signal) => {
      if (code === 0) settle(null);
      else settle(code !== null ? `the new image exited with status ${code}` : `the new image was killed by ${String(signal)}`);
    });
  });
}
