// Socket activation and the fd store's hand-back: the fds a service manager passed us at exec time
// (sd_listen_fds(3) protocol: LISTEN_PID, LISTEN_FDS from fd 3, LISTEN_FDNAMES).

import { setCloexec } from '@logwarden/core/native';
import { LwError } from '@logwarden/core/errors';

export const LISTEN_FDS_START = 3;
const MAX_FDS = 1 << 20;

export interface ListenFd {
  fd: number;
  /** From LISTEN_FDNAMES; systemd itself says `unknown` when a unit set no name. */
  name: string;
}

type Env = Record<string, string | undefined>;

function envError(message: string, cause?: unknown): LwError {
  return new LwError('LW_ERR_SYSTEMD_ENV_INVALID', message, undefined, { cause });
}

function parseDecimal(value: string, what: string): number {
  if (!/^[0-9]{1,10}$/.test(value)) throw envError(`${what}=${value} is not a decimal number`);
  return Number(value);
}

/**
 * Returns the fds passed to this process and unsets LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES in
 * every case, so children we spawn never mistake them for theirs. The fds get CLOEXEC for the same
 * reason (systemd hands them over without it). Variables meant for another pid yield [].
 */
export function listenFds(env: Env = process.env): ListenFd[] {
  const pidText = env.LISTEN_PID;
  const countText = env.LISTEN_FDS;
  const namesText = env.LISTEN_FDNAMES;
  delete env.LISTEN_PID;
  delete env.LISTEN_FDS;
  delete env.LISTEN_FDNAMES;

  if (pidText === undefined || countText === undefined) return [];
  if (parseDecimal(pidText, 'LISTEN_PID') !== process.pid) return [];
  const count = parseDecimal(countText, 'LISTEN_FDS');
  if (count === 0) return [];
  // The kernel's nr_open ceiling: no process can hold more fds than this.
  if (count > MAX_FDS) throw envError(`LISTEN_FDS=${count} exceeds ${MAX_FDS}`);

  const names = namesText === undefined ? Array<string>(count).fill('unknown') : namesText.split(':');
  if (names.length !== count) {
    throw envError(`LISTEN_FDNAMES has ${names.length} names for LISTEN_FDS=${count}`);
  }
  return names.map((name, i) => {
    const fd = LISTEN_FDS_START + i;
    try {
      setCloexec(fd, true);
    } catch (err) {
      throw envError(`LISTEN_FDS=${count} but fd ${fd} is not open`, err);
    }
    return { fd, name };
  });
}
