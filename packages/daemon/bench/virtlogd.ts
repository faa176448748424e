// libvirt's virtlogd as the benchmark peer: started standalone in a private mount namespace (its
// socket path is fixed under /run when it runs as root, so a bind mount gives it its own /run),
// and driven through a small client for its RPC protocol (libvirt's XDR "log manager" program).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { close, UnixSocket } from '@logwarden/core/native';

export const VIRTLOGD = '/usr/sbin/virtlogd';

const PROGRAM = 0x87539319;
const VERSION = 1;
const PROC = { openLogFile: 1, getLogFilePosition: 2, readLogFile: 3, appendLogFile: 4 } as const;
const TYPE = { call: 0, reply: 1, replyWithFds: 5 } as const;
const STATUS_OK = 0;

export interface VirtlogdPosition {
  inode: bigint;
  offset: bigint;
}

export class VirtlogdPeer {
  readonly dir: string;
  readonly socketPath: string;
  readonly proc: ChildProcess;

  private constructor(dir: string, proc: ChildProcess) {
    this.dir = dir;
    this.proc = proc;
    this.socketPath = join(dir, 'run/libvirt/virtlogd-sock');
  }

  get pid(): number {
    return this.proc.pid ?? -1;
  }

  /** Starts virtlogd with its files under `dir`; resolves once its socket exists. */
  static async start(dir: string, opts: { maxSize: number; maxBackups: number }): Promise<VirtlogdPeer> {
    mkdirSync(join(dir, 'run/libvirt'), { recursive: true });
    const conf = join(dir, 'virtlogd.conf');
    writeFileSync(conf, `log_level = 3\nlog_outputs = "3:stderr"\nmax_clients = 4096\nmax_size = ${opts.maxSize}\nmax_backups = ${opts.maxBackups}\n`);
    // unshare execs the shell, which execs virtlogd: the child's pid is virtlogd's, for /proc.
    const script = 'mount --bind "$1/run" /run && exec "$2" -f "$1/virtlogd.conf" -p /run/virtlogd.pid';
    const proc = spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script, 'sh', dir, VIRTLOGD], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const peer = new VirtlogdPeer(dir, proc);
    const deadline = Date.now() + 20_000;
    while (!existsSync(peer.socketPath)) {
      if (proc.exitCode !== null) throw new Error(`virtlogd exited with ${proc.exitCode}`);
      if (Date.now() > deadline) throw new Error('virtlogd did not create its socket');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return peer;
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const done = new Promise((resolve) => this.proc.once('exit', resolve));
    this.proc.kill('SIGTERM');
    await done;
  }
}

class Xdr {
  readonly #parts: Buffer[] = [];

  u32(v: number): this {
    const b = Buffer.allocUnsafe(4);
    b.writeUInt32BE(v >>> 0);
    this.#parts.push(b);
    return this;
  }

  u64(v: bigint): this {
    const b = Buffer.allocUnsafe(8);
    b.writeBigUInt64BE(v);
    this.#parts.push(b);
    return this;
  }

  fixed(bytes: Uint8Array): this {
    this.#parts.push(Buffer.from(bytes));
    return this;
  }

  string(s: string | Uint8Array): this {
    const b = typeof s === 'string' ? Buffer.from(s) : Buffer.from(s);
    this.u32(b.length);
    this.#parts.push(b, Buffer.alloc((4 - (b.length % 4)) % 4));
    return this;
  }

  bytes(): Buffer {
    return Buffer.concat(this.#parts);
  }
}

interface Pending {
  resolve: (r: { body: Buffer; fds: number[] }) => void;
  reject: (err: Error) => void;
}

/** One connection to virtlogd; calls are answered in order (virtlogd serves a client serially). */
export class VirtlogdClient {
  readonly #socket: UnixSocket;
  #buffer: Buffer = Buffer.alloc(0);
  readonly #fds: number[] = [];
  readonly #pending: Pending[] = [];
  #serial = 1;
  /** fds a reply announced whose dummy bytes have not arrived yet. */
  #owedFds = 0;
  #owedReply: { body: Buffer; fds: number[] } | null = null;

  private constructor(socket: UnixSocket) {
    this.#socket = socket;
    socket.on('message', (m: { data: Buffer; fds: number[] }) => {
      this.#fds.push(...m.fds);
      this.#buffer = this.#buffer.length === 0 ? m.data : Buffer.concat([this.#buffer, m.data]);
      this.#parse();
    });
    const gone = (): void => {
      for (const p of this.#pending.splice(0)) p.reject(new Error('virtlogd connection closed'));
    };
    socket.on('end', gone);
    socket.on('close', gone);
  }

  static connect(path: string): VirtlogdClient {
    return new VirtlogdClient(UnixSocket.connect(path, 'stream'));
  }

  close(): void {
    this.#socket.close();
    for (const fd of this.#fds.splice(0)) close(fd);
  }

  /** Returns the pipe write end virtlogd hands over, and the position the log starts at. */
  async openLog(path: string, opts: { uuid?: Uint8Array; name?: string; flags?: number } = {}): Promise<{ fd: number; position: VirtlogdPosition }> {
    const args = new Xdr()
      .string('qemu')
      .fixed(opts.uuid ?? Buffer.alloc(16, 0x11))
      .string(opts.name ?? 'bench')
      .string(path)
      .u32(opts.flags ?? 0)
      .bytes();
    const { body, fds } = await this.#call(PROC.openLogFile, args);
    const fd = fds[0];
    if (fd === undefined) throw new Error('virtlogd sent no fd with openLog');
    for (const extra of fds.slice(1)) close(extra);
    return { fd, position: { inode: body.readBigUInt64BE(0), offset: body.readBigUInt64BE(8) } };
  }

  async getPosition(path: string): Promise<VirtlogdPosition> {
    const { body } = await this.#call(PROC.getLogFilePosition, new Xdr().string(path).u32(0).bytes());
    return { inode: body.readBigUInt64BE(0), offset: body.readBigUInt64BE(8) };
  }

  async read(path: string, position: VirtlogdPosition, maxLen: number): Promise<Buffer> {
    const args = new Xdr().string(path).u64(position.inode).u64(position.offset).u64(BigInt(maxLen)).u32(0).bytes();
    const { body } = await this.#call(PROC.readLogFile, args);
    const n = body.readUInt32BE(0);
    return body.subarray(4, 4 + n);
  }

  async append(path: string, message: string): Promise<void> {
    const args = new Xdr().string('qemu').fixed(Buffer.alloc(16, 0x11)).string('bench').string(path).string(message).u32(0).bytes();
    await this.#call(PROC.appendLogFile, args);
  }

  #call(proc: number, args: Buffer): Promise<{ body: Buffer; fds: number[] }> {
    const header = new Xdr().u32(0).u32(PROGRAM).u32(VERSION).u32(proc).u32(TYPE.call).u32(this.#serial++).u32(STATUS_OK).bytes();
    const msg = Buffer.concat([header, args]);
    msg.writeUInt32BE(msg.length, 0);
    return new Promise((resolve, reject) => {
      this.#pending.push({ resolve, reject });
      this.#socket.send(msg).catch(reject);
    });
  }

  #parse(): void {
    for (;;) {
      if (this.#owedReply !== null) {
        // Each fd travels with one dummy byte after the reply (gnulib's sendfd).
        const take = Math.min(this.#owedFds, this.#buffer.length);
        this.#buffer = this.#buffer.subarray(take);
        this.#owedFds -= take;
        if (this.#owedFds > 0) return;
        const reply = this.#owedReply;
        this.#owedReply = null;
        reply.fds = this.#fds.splice(0, reply.fds.length);
        this.#settle(reply, null);
        continue;
      }
      if (this.#buffer.length < 4) return;
      const len = this.#buffer.readUInt32BE(0);
      if (this.#buffer.length < len) return;
      const frame = this.#buffer.subarray(4, len);
      this.#buffer = this.#buffer.subarray(len);
      const type = frame.readInt32BE(12);
      const status = frame.readInt32BE(20);
      let body = frame.subarray(24);
      if (status !== STATUS_OK) {
        this.#settle(null, new Error(`virtlogd error: ${body.toString('latin1').replace(/[^\x20-\x7e]+/g, ' ').trim()}`));
        continue;
      }
      if (type === TYPE.replyWithFds) {
        const nfds = body.readUInt32BE(0);
        body = body.subarray(4);
        this.#owedFds = nfds;
        this.#owedReply = { body, fds: new Array<number>(nfds).fill(-1) };
        continue;
      }
      this.#settle({ body, fds: [] }, null);
    }
  }

  #settle(reply: { body: Buffer; fds: number[] } | null, err: Error | null): void {
    const p = this.#pending.shift();
    if (p === undefined) return;
    if (err !== null) p.reject(err);
    else if (reply !== null) p.resolve(reply);
  }
}
