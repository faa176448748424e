// Shared by the real-socket RPC tests: temp dirs, bounded waits, a raw (hostile) client.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { close, read, type UnixSocket } from '../../src/native/index.js';
import { FrameDecoder, MSG, decodeMessage, type Message } from '../../src/protocol/index.js';

export function tempDir(): { dir: string; sock: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'lw-rpc-'));
  return { dir, sock: join(dir, 's.sock'), cleanup: () => { rmSync(dir, { recursive: true, force: true }); } };
}

/** Rejects if `p` does not settle within `ms` (generous: these machines are loaded). */
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => { reject(new Error(`timed out waiting for ${what}`)); }, ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `cond` until true (bounded). */
export async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** Everything a raw client receives until the server closes or sends a connection-level error. */
export function collectUntilEnd(sock: UnixSocket): Promise<{ messages: Message[]; fds: number[] }> {
  const decoder = new FrameDecoder();
  const messages: Message[] = [];
  const fds: number[] = [];
  return new Promise((resolve) => {
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      fds.push(...decoder.dispose());
      resolve({ messages, fds });
    };
    sock.on('message', (m: { data: Buffer; fds: number[] }) => {
      try {
        for (const f of decoder.push(m.data, m.fds)) {
          fds.push(...f.fds);
          const msg = decodeMessage(f.body);
          messages.push(msg);
          // Like a real client: a connection-level error means the server is done with us.
          if (msg.type === MSG.ERROR && msg.id === null) finish();
        }
      } catch {
        finish();
      }
    });
    sock.on('end', finish);
    sock.on('close', finish);
    sock.on('error', finish);
  });
}

/** Reads a nonblocking fd until EOF (bounded); returns everything read. */
export async function readToEof(fd: number, ms: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  const buf = Buffer.alloc(65536);
  const end = Date.now() + ms;
  for (;;) {
    const n = read(fd, buf);
    if (n === 0) return Buffer.concat(parts);
    if (n === null) {
      if (Date.now() > end) throw new Error('timed out waiting for EOF');
      await sleep(5);
      continue;
    }
    parts.push(Buffer.from(buf.subarray(0, n)));
  }
}

export function closeAll(fds: number[]): void {
  for (const fd of fds) close(fd);
}
