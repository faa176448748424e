// A real notify socket for tests: a bound AF_UNIX datagram socket in a temp dir that collects what
// a Notifier sends, with the fds that came along.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { bind, close, FdPoller, recvmsg, socket } from '@logwarden/core/native';

export interface Datagram {
  text: string;
  fds: number[];
}

export class NotifySink {
  readonly dir: string;
  readonly path: string;
  /** What NOTIFY_SOCKET would say for this sink. */
  readonly address: string;
  #fd: number;

  constructor(opts: { abstract?: boolean } = {}) {
    this.dir = mkdtempSync(join(tmpdir(), 'lw-notify-'));
    this.path = join(this.dir, 'notify');
    this.#fd = socket('dgram');
    if (opts.abstract === true) {
      const name = `logwarden-test-${process.pid}-${Math.random().toString(36).slice(2)}`;
      bind(this.#fd, `\0${name}`);
      this.address = `@${name}`;
    } else {
      bind(this.#fd, this.path);
      this.address = this.path;
    }
  }

  /** Closes the socket and binds a new one at the same path, as a restarted manager would. */
  replace(): void {
    close(this.#fd);
    rmSync(this.path);
    this.#fd = socket('dgram');
    bind(this.#fd, this.path);
  }

  /** The next datagram, waiting for it up to timeoutMs. */
  next(timeoutMs = 10_000): Promise<Datagram> {
    const now = this.poll();
    if (now !== null) return Promise.resolve(now);
    return new Promise((resolve, reject) => {
      const poller = new FdPoller(this.#fd, () => {
        const got = this.poll();
        if (got === null) return;
        clearTimeout(timer);
        poller.close();
        resolve(got);
      });
      const timer = setTimeout(() => {
        poller.close();
        reject(new Error(`no datagram within ${timeoutMs} ms`));
      }, timeoutMs);
      poller.start({ readable: true });
    });
  }

  /** A datagram already queued, or null. */
  poll(): Datagram | null {
    const msg = recvmsg(this.#fd, 8192);
    if (msg === null) return null;
    return { text: msg.data.toString('utf8'), fds: msg.fds };
  }

  close(): void {
    close(this.#fd);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
