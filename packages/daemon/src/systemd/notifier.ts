// sd_notify(3) without libsystemd: state changes, watchdog pings and the fd store, each message one
// datagram of KEY=VALUE lines on the AF_UNIX socket named by NOTIFY_SOCKET.

import { close, connect, FdPoller, isSysError, MAX_FDS, pipe, read, sendmsg, socket } from '@logwarden/core/native';
import { LwError } from '@logwarden/core/protocol';

import { assertFdName } from './fd-names.js';

type Env = Record<string, string | undefined>;

// systemd reads at most PIPE_BUF bytes per notification and drops longer ones whole.
export const NOTIFY_MAX_BYTES = 4096;
// The kernel's SCM_MAX_FD: more fds in one sendmsg fail with EINVAL.
export const NOTIFY_MAX_FDS = MAX_FDS;
const DEFAULT_BARRIER_TIMEOUT_MS = 5000;
const TIMER_MAX_MS = 2 ** 31 - 1;

export interface NotifierOptions {
  /** From WATCHDOG_USEC when it is meant for this process; 0 or absent = no watchdog. */
  watchdogUsec?: number;
}

export interface StoreFdsOptions {
  /**
   * false sends FDPOLL=0: systemd then keeps the fd even after it reports POLLHUP. A log pipe
   * whose writers all exited hangs up yet may still hold bytes we have not written to the file.
   */
  poll?: boolean;
}

function invalid(message: string): LwError {
  return new LwError('LW_ERR_SYSTEMD_MESSAGE_INVALID', message);
}

function envError(message: string): LwError {
  return new LwError('LW_ERR_SYSTEMD_ENV_INVALID', message);
}

/** `@name` is Linux's abstract namespace, which the native layer spells with a leading NUL. */
function socketPath(address: string): string {
  if (address.startsWith('/')) return address;
  if (address.startsWith('@') && address.length > 1) return `\0${address.slice(1)}`;
  throw envError(`NOTIFY_SOCKET=${address} is neither an absolute path nor an abstract '@' name`);
}

function oneLine(value: string, what: string): string {
  if (/[\n\0]/.test(value)) throw invalid(`${what} must not contain a newline or NUL`);
  return value;
}

function parseWatchdog(env: Env): number {
  const usecText = env.WATCHDOG_USEC;
  const pidText = env.WATCHDOG_PID;
  if (usecText === undefined) return 0;
  if (!/^[0-9]{1,20}$/.test(usecText)) throw envError(`WATCHDOG_USEC=${usecText} is not a decimal number`);
  if (pidText !== undefined) {
    if (!/^[0-9]{1,10}$/.test(pidText)) throw envError(`WATCHDOG_PID=${pidText} is not a decimal number`);
    if (Number(pidText) !== process.pid) return 0;
  }
  return Number(usecText);
}

export class Notifier {
  readonly #path: string;
  /** As given (NOTIFY_SOCKET's spelling): what a re-exec'd daemon is handed back. */
  readonly address: string;
  readonly watchdogUsec: number;
  #fd = -1;
  // Sends go out one at a time, in call order: FDSTOREREMOVE before FDSTORE must stay so.
  #queue: Promise<void> = Promise.resolve();
  #watchdog: NodeJS.Timeout | null = null;
  #closed = false;

  /** `address` as in NOTIFY_SOCKET: an absolute path or an abstract `@name`. */
  constructor(address: string, opts: NotifierOptions = {}) {
    this.#path = socketPath(address);
    this.address = address;
    this.watchdogUsec = opts.watchdogUsec ?? 0;
  }

  /**
   * A notifier for the manager that started us, or null when none listens. NOTIFY_SOCKET,
   * WATCHDOG_USEC and WATCHDOG_PID are unset so that children we spawn never talk in our name.
   */
  static fromEnv(env: Env = process.env): Notifier | null {
    const address = env.NOTIFY_SOCKET;
    let watchdogUsec: number;
    try {
      watchdogUsec = parseWatchdog(env);
    } finally {
      delete env.NOTIFY_SOCKET;
      delete env.WATCHDOG_USEC;
      delete env.WATCHDOG_PID;
    }
    if (address === undefined || address === '') return null;
    return new Notifier(address, { watchdogUsec });
  }

  /**
   * One datagram of `KEY=VALUE` lines, with `fds` attached by SCM_RIGHTS. The caller keeps its fds
   * and must leave them open until the promise settles.
   */
  notify(message: string, fds: readonly number[] = []): Promise<void> {
    if (this.#closed) return Promise.reject(new LwError('LW_ERR_SYSTEMD_CLOSED', 'notifier is closed'));
    const data = Buffer.from(message, 'utf8');
    if (data.length === 0 || data.length > NOTIFY_MAX_BYTES) {
      return Promise.reject(invalid(`a notification must be 1-${NOTIFY_MAX_BYTES} bytes, got ${data.length}`));
    }
    if (data.includes(0)) return Promise.reject(invalid('a notification must not contain NUL'));
    if (fds.length > NOTIFY_MAX_FDS) return Promise.reject(invalid(`at most ${NOTIFY_MAX_FDS} fds per notification`));
    const sent = this.#queue.then(() => this.#sendOrReconnect(data, [...fds]));
    this.#queue = sent.catch(() => undefined);
    return sent;
  }

  async #sendOrReconnect(data: Buffer, fds: number[]): Promise<void> {
    try {
      await this.#send(data, fds);
    } catch (err) {
      // The manager replaced its socket (same path, new inode): our connection to the old one
      // is dead, so reconnect once rather than lose the notification.
      if (!isSysError(err, 'ECONNREFUSED')) throw sendError(err);
      this.#disconnect();
      try {
        await this.#send(data, fds);
      } catch (again) {
        throw sendError(again);
      }
    }
  }

  async #send(data: Buffer, fds: number[]): Promise<void> {
    if (this.#fd < 0) {
      // Connected, so that a full receive queue makes poll wait for room instead of spinning.
      const fd = socket('dgram');
      try {
        connect(fd, this.#path);
      } catch (err) {
        close(fd);
        throw err;
      }
      this.#fd = fd;
    }
    while (sendmsg(this.#fd, data, { fds }) === null) await waitWritable(this.#fd);
  }

  #disconnect(): void {
    if (this.#fd >= 0) close(this.#fd);
    this.#fd = -1;
  }

  async ready(status?: string): Promise<void> {
    await this.notify(status === undefined ? 'READY=1' : `READY=1\nSTATUS=${oneLine(status, 'status')}`);
  }

  async status(text: string): Promise<void> {
    await this.notify(`STATUS=${oneLine(text, 'status')}`);
  }

  /**
   * Configuration reload begins; send ready() when it is done. systemd 253+ (Type=notify-reload)
   * wants the CLOCK_MONOTONIC time with it, which libuv's hrtime reads; 252 ignores the extra field.
   */
  async reloading(): Promise<void> {
    const usec = process.hrtime.bigint() / 1000n;
    await this.notify(`RELOADING=1\nMONOTONIC_USEC=${usec.toString()}`);
  }

  async stopping(): Promise<void> {
    await this.notify('STOPPING=1');
  }

  /** The service's main process is now `pid` (after a fork-based handover). */
  async mainPid(pid: number): Promise<void> {
    if (!Number.isSafeInteger(pid) || pid <= 0) throw invalid(`MAINPID must be a positive pid, got ${pid}`);
    await this.notify(`MAINPID=${pid}`);
  }

  /**
   * Keeps `fds` in the manager's fd store under `name`; a restarted process gets them back through
   * listenFds(). The store is bounded by FileDescriptorStoreMax= and systemd drops fds beyond it.
   */
  async storeFds(fds: readonly number[], name: string, opts: StoreFdsOptions = {}): Promise<void> {
    assertFdName(name);
    if (fds.length === 0) throw invalid('storeFds needs at least one fd');
    const header = `FDSTORE=1\nFDNAME=${name}${opts.poll === false ? '\nFDPOLL=0' : ''}`;
    for (let i = 0; i < fds.length; i += NOTIFY_MAX_FDS) {
      await this.notify(header, fds.slice(i, i + NOTIFY_MAX_FDS));
    }
  }

  /** Closes and forgets every stored fd named `name`. */
  async removeFds(name: string): Promise<void> {
    assertFdName(name);
    await this.notify(`FDSTOREREMOVE=1\nFDNAME=${name}`);
  }

  /**
   * Resolves once the manager has processed every notification sent before it: systemd closes
   * the pipe end we pass after draining its queue, and our read end sees EOF. Without this a
   * process exiting right after storeFds() can lose the message (the manager may look up its
   * unit only after the pid is gone).
   */
  async barrier(timeoutMs: number = DEFAULT_BARRIER_TIMEOUT_MS): Promise<void> {
    const { readFd, writeFd } = pipe();
    try {
      try {
        await this.notify('BARRIER=1', [writeFd]);
      } finally {
        close(writeFd);
      }
      await waitForHangup(readFd, timeoutMs);
    } finally {
      close(readFd);
    }
  }

  get watchdogEnabled(): boolean {
    return this.watchdogUsec > 0;
  }

  /**
   * Pings WATCHDOG=1 every half period (what sd_watchdog_enabled(3) advises) from a timer that
   * never keeps the process alive. Returns false when the manager asked for no watchdog.
   */
  startWatchdog(onError: (err: unknown) => void): boolean {
    if (!this.watchdogEnabled || this.#closed) return false;
    this.stopWatchdog();
    // Timers take at most 2^31-1 ms; a longer period still gets pinged often enough.
    const periodMs = Math.min(TIMER_MAX_MS, Math.max(1, Math.floor(this.watchdogUsec / 2000)));
    let inFlight = false;
    const ping = (): void => {
      // A manager too busy to take the last ping gets no pile of them.
      if (inFlight) return;
      inFlight = true;
      this.notify('WATCHDOG=1')
        .catch(onError)
        .finally(() => {
          inFlight = false;
        });
    };
    ping();
    this.#watchdog = setInterval(ping, periodMs);
    this.#watchdog.unref();
    return true;
  }

  stopWatchdog(): void {
    if (this.#watchdog) clearInterval(this.#watchdog);
    this.#watchdog = null;
  }

  /** Stops the watchdog and closes the socket once queued notifications went out. */
  close(): void {
    this.stopWatchdog();
    this.#closed = true;
    void this.#queue.then(() => {
      this.#disconnect();
    });
  }
}

function sendError(err: unknown): LwError {
  if (err instanceof LwError) return err;
  return new LwError('LW_ERR_SYSTEMD_SEND_FAILED', `cannot send to the notify socket: ${String(err)}`, undefined, {
    cause: err,
  });
}

function waitWritable(fd: number): Promise<void> {
  return new Promise((resolve) => {
    const poller = new FdPoller(fd, () => {
      // Writable or an error: either way the next sendmsg says which.
      poller.close();
      resolve();
    });
    poller.start({ writable: true });
  });
}

function waitForHangup(fd: number, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const scratch = Buffer.allocUnsafe(64);
    const finish = (err?: LwError): void => {
      clearTimeout(timer);
      poller.close();
      if (err) reject(err);
      else resolve();
    };
    // POLLHUP on a pipe reads as readable under uv_poll; read() then returns 0 (EOF).
    const poller = new FdPoller(fd, (ev) => {
      if (ev.error !== 0) {
        finish(new LwError('LW_ERR_SYSTEMD_SEND_FAILED', `barrier pipe poll failed (${ev.error})`));
        return;
      }
      try {
        while (true) {
          const n = read(fd, scratch);
          if (n === null) return;
          if (n === 0) {
            finish();
            return;
          }
        }
      } catch (err) {
        finish(sendError(err));
      }
    });
    const timer = setTimeout(() => {
      finish(new LwError('LW_ERR_SYSTEMD_BARRIER_TIMEOUT', `the manager did not answer BARRIER=1 within ${timeoutMs} ms`));
    }, timeoutMs);
    poller.start({ readable: true });
  });
}
