// LogwardenClient: typed promise methods over one RPC connection to logwardend.
import { setNonblock } from '@logwarden/core/native';
import {
  LIMITS,
  POSITION_START,
  RpcClient,
  closeFds,
  LwError,
  type CallArgs,
  type CallOptions,
  type FollowOptions,
  type FollowStream,
  type LogInfo,
  type LogLevel,
  type MethodResults,
  type RpcClientOptions,
  type ServerInfo,
  type WirePosition,
} from '@logwarden/core/protocol';
import { defaultSocketPath } from './socket-path.js';

export type ConnectOptions = RpcClientOptions;

export interface OpenedLog {
  position: WirePosition;
  /**
   * The write end of the log's pipe: blocking and close-on-exec, ready to be a child's stdout/stderr
   * (spawn's stdio dup2()s it into the child). The caller owns it and must close it.
   */
  fd: number;
}

export interface ReadChunk {
  data: Uint8Array;
  /** Where the next read continues. */
  position: WirePosition;
  /** Bytes rotated away before `data`. */
  gap: number;
}

/** Connects to logwardend (default socket: $LOGWARDEN_SOCKET, else ./var/run/logwardend.sock). */
export async function connect(path: string = defaultSocketPath(), opts: ConnectOptions = {}): Promise<LogwardenClient> {
  return new LogwardenClient(await RpcClient.connect(path, { clientName: 'logwarden-sdk', ...opts }));
}

export class LogwardenClient {
  readonly rpc: RpcClient;

  constructor(rpc: RpcClient) {
    this.rpc = rpc;
  }

  get server(): ServerInfo {
    return this.rpc.server;
  }

  /** Resolves when the connection is gone, with the reason. */
  get closed(): Promise<LwError> {
    return this.rpc.closed;
  }

  async openLog(args: CallArgs<'openLog'>, opts?: CallOptions): Promise<OpenedLog> {
    const { result, fds } = await this.rpc.call('openLog', args, opts);
    const [fd, ...extra] = fds;
    closeFds(extra);
    if (fd === undefined) throw new LwError('LW_ERR_PROTO_FD_MISMATCH', 'openLog reply carried no pipe fd');
    try {
      // The daemon's pipes are non-blocking; a guest writing to a full non-blocking stdout gets EAGAIN.
      // O_NONBLOCK lives on this write end's open file description, which only writers share.
      setNonblock(fd, false);
    } catch (err) {
      closeFds([fd]);
      throw err;
    }
    return { position: result.position, fd };
  }

  async getPosition(path: string, opts?: CallOptions): Promise<WirePosition> {
    return (await this.rpc.call('getPosition', { path }, opts)).result.position;
  }

  async read(path: string, position: WirePosition, maxLen: number = LIMITS.maxReadLen, opts?: CallOptions): Promise<ReadChunk> {
    return (await this.rpc.call('read', { path, position, maxLen }, opts)).result;
  }

  /** Reads from `from` (default: the oldest byte kept) up to the end as it is now, chunk by chunk. */
  async *readAll(path: string, from: WirePosition = POSITION_START, opts: CallOptions & { chunk?: number } = {}): AsyncGenerator<ReadChunk> {
    let position = from;
    for (;;) {
      const chunk = await this.read(path, position, opts.chunk ?? 1024 * 1024, opts);
      if (chunk.data.length > 0 || chunk.gap > 0) yield chunk;
      const moved = chunk.position.inode !== position.inode || chunk.position.offset !== position.offset;
      if (chunk.data.length === 0 && !moved) return;
      position = chunk.position;
    }
  }

  async append(args: CallArgs<'append'>, opts?: CallOptions): Promise<WirePosition> {
    return (await this.rpc.call('append', args, opts)).result.position;
  }

  /** Follows a log from `position`; iterate with for-await, leave the loop to stop. */
  follow(path: string, position: WirePosition, opts?: FollowOptions): FollowStream {
    return this.rpc.follow({ path, position }, opts);
  }

  async list(opts?: CallOptions): Promise<LogInfo[]> {
    return (await this.rpc.call('list', {}, opts)).result.logs;
  }

  async closeLog(path: string, opts?: CallOptions): Promise<void> {
    await this.rpc.call('closeLog', { path }, opts);
  }

  /** Removes a log and its backups; returns how many files went. */
  async removeLog(path: string, opts?: CallOptions): Promise<number> {
    return (await this.rpc.call('removeLog', { path }, opts)).result.removed;
  }

  async stats(path?: string, opts?: CallOptions): Promise<MethodResults['stats']> {
    return (await this.rpc.call('stats', path === undefined ? {} : { path }, opts)).result;
  }

  async setLogLevel(level: LogLevel, opts?: CallOptions): Promise<void> {
    await this.rpc.call('setLogLevel', { level }, opts);
  }

  async reloadConfig(opts?: CallOptions): Promise<void> {
    await this.rpc.call('reloadConfig', {}, opts);
  }

  async upgrade(opts?: CallOptions): Promise<void> {
    await this.rpc.call('upgrade', {}, opts);
  }

  close(): void {
    this.rpc.close();
  }
}
