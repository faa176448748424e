// RpcClient: one connection to the daemon; calls with timeouts and abort signals, fds returned with
// replies, follow streams as async iterables with credit-based backpressure.
import { UnixSocket } from '../native/index.js';
import { closeFds, FramedConnection } from './connection.js';
import { LwError } from './errors.js';
import { DEFAULT_FOLLOW_CREDIT, LIMITS, PROTOCOL_VERSION, type Credit, type Limits } from './limits.js';
import { MSG, type Message } from './messages.js';
import { METHOD_IDS, type CallArgs, type FollowEvent, type MethodName, type MethodResults } from './methods.js';
import { RESULT_VALIDATORS } from './validate.js';

export interface RpcClientOptions {
  /** Bound on connect + hello (default 10 s). */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Default timeout of every call (default 30 s; 0 = none). */
  callTimeoutMs?: number;
  /** Sent in hello, shows in the daemon's logs. */
  clientName?: string;
  limits?: Limits;
}

export interface CallOptions {
  /** Sent with the call's frame (the caller keeps its copies). */
  fds?: number[];
  signal?: AbortSignal;
  /** Overrides the client's callTimeoutMs; 0 = none. */
  timeoutMs?: number;
}

export interface FollowOptions {
  signal?: AbortSignal;
  /** Flow-control window: at most this many events/bytes are in flight (default DEFAULT_FOLLOW_CREDIT). */
  credit?: Credit;
  /** Timeout of the follow call itself (not of the stream). */
  timeoutMs?: number;
}

export interface CallResult<M extends MethodName> {
  result: MethodResults[M];
  /** fds that came with the reply; the caller owns (and must close) them. */
  fds: number[];
}

export interface ServerInfo {
  version: number;
  server: string;
  methods: string[];
}

interface Pending {
  method: MethodName;
  resolve(value: CallResult<MethodName>): void;
  reject(err: LwError): void;
  /** Runs synchronously on the reply, before any later frame is handled (follow registers its stream). */
  onResult?: (result: unknown) => void;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class RpcClient {
  readonly #conn: FramedConnection;
  readonly #callTimeoutMs: number;
  readonly #pending = new Map<number, Pending>();
  readonly #streams = new Map<number, FollowStream>();
  #nextId = 1;
  #closedReason: LwError | null = null;
  #server: ServerInfo | null = null;
  readonly closed: Promise<LwError>;
  #resolveClosed!: (err: LwError) => void;

  private constructor(socket: UnixSocket, opts: RpcClientOptions) {
    this.#callTimeoutMs = opts.callTimeoutMs ?? 30_000;
    this.closed = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });
    this.#conn = new FramedConnection(
      socket,
      {
        message: (msg, fds) => {
          this.#onMessage(msg, fds);
        },
        fatal: (err) => {
          this.#shutdown(err);
        },
        closed: (err) => {
          this.#shutdown(err ?? new LwError('LW_ERR_RPC_CLOSED'));
        },
      },
      opts.limits ?? LIMITS,
    );
  }

  /** Connects to a daemon socket and says hello. */
  static async connect(path: string, opts: RpcClientOptions = {}): Promise<RpcClient> {
    let socket: UnixSocket;
    try {
      socket = UnixSocket.connect(path, 'stream');
    } catch (err) {
      const code = typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : undefined;
      throw new LwError('LW_ERR_RPC_CONNECT', `cannot connect to ${path}: ${messageOf(err)}`, { path, errno: code }, { cause: err });
    }
    const client = new RpcClient(socket, opts);
    try {
      const hello = await client.call(
        'hello',
        opts.clientName === undefined ? { version: PROTOCOL_VERSION } : { version: PROTOCOL_VERSION, client: opts.clientName },
        { timeoutMs: opts.timeoutMs ?? 10_000, signal: opts.signal },
      );
      client.#server = hello.result;
    } catch (err) {
      client.close();
      throw err;
    }
    return client;
  }

  /** What the server said in hello. */
  get server(): ServerInfo {
    if (this.#server === null) throw new LwError('LW_ERR_PROTO_HELLO_REQUIRED', 'not connected yet');
    return this.#server;
  }

  get isClosed(): boolean {
    return this.#closedReason !== null;
  }

  call<M extends MethodName>(method: M, args: CallArgs<M>, opts: CallOptions = {}): Promise<CallResult<M>> {
    return this.#call(method, args, opts);
  }

  /**
   * Follows a log from `args.position`. The call is made when iteration starts; leaving the loop
   * (break, return, throw) cancels the stream. Events are buffered up to the credit window only.
   */
  follow(args: CallArgs<'follow'>, opts: FollowOptions = {}): FollowStream {
    return new FollowStream(this, args, opts);
  }

  /** Closes the connection: pending calls reject and streams end with LW_ERR_RPC_CLOSED. Idempotent. */
  close(): void {
    this.#shutdown(new LwError('LW_ERR_RPC_CLOSED', 'client closed'));
  }

  /** @internal used by FollowStream */
  startFollow(stream: FollowStream, args: CallArgs<'follow'>, credit: Credit, opts: FollowOptions): Promise<number> {
    return this.#call('follow', { ...args, credit }, opts, (result) => {
      this.#streams.set((result as MethodResults['follow']).streamId, stream);
    }).then(({ result }) => result.streamId);
  }

  /** @internal */
  grant(streamId: number, events: number, bytes: number): void {
    this.#sendQuiet({ type: MSG.CREDIT, stream: streamId, events, bytes });
  }

  /** @internal */
  cancel(streamId: number): void {
    this.#streams.delete(streamId);
    if (this.isClosed) return;
    // The stream may have ended on its own meanwhile (LW_ERR_RPC_UNKNOWN_STREAM): either way it is over.
    this.#call('cancel', { streamId }, {}).catch(() => undefined);
  }

  /** @internal */
  get closedReason(): LwError | null {
    return this.#closedReason;
  }

  #call<M extends MethodName>(
    method: M,
    args: CallArgs<M>,
    opts: CallOptions,
    onResult?: (result: unknown) => void,
  ): Promise<CallResult<M>> {
    if (this.#closedReason !== null) return Promise.reject(this.#closedReason);
    if (opts.signal?.aborted === true) return Promise.reject(new LwError('LW_ERR_RPC_ABORTED'));
    const id = this.#allocateId();
    const { flags, ...rest } = args;
    return new Promise<CallResult<M>>((resolve, reject) => {
      const timeoutMs = opts.timeoutMs ?? this.#callTimeoutMs;
      let timer: NodeJS.Timeout | null = null;
      const onAbort = (): void => {
        settle(new LwError('LW_ERR_RPC_ABORTED', `${method} aborted`));
      };
      // After a timeout or abort the id is forgotten: a late reply finds no entry and its fds are closed.
      const settle = (err: LwError | null, value?: CallResult<MethodName>): void => {
        if (!this.#pending.delete(id)) return;
        if (timer !== null) clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        if (err !== null) reject(err);
        else resolve(value as CallResult<M>);
      };
      this.#pending.set(id, {
        method,
        resolve: (v) => {
          settle(null, v);
        },
        reject: (e) => {
          settle(e);
        },
        onResult,
      });
      if (timeoutMs > 0) {
        timer = setTimeout(() => {
          settle(new LwError('LW_ERR_RPC_TIMEOUT', `${method} timed out after ${timeoutMs} ms`, { method, timeoutMs }));
        }, timeoutMs);
      }
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      try {
        this.#conn
          .send({ type: MSG.CALL, id, method: METHOD_IDS[method], flags: flags ?? 0, args: rest }, opts.fds ?? [])
          .catch((err: unknown) => {
            settle(err instanceof LwError ? err : new LwError('LW_ERR_RPC_CLOSED', messageOf(err)));
          });
      } catch (err) {
        settle(err instanceof LwError ? err : new LwError('LW_ERR_RPC_CLOSED', messageOf(err)));
      }
    });
  }

  #allocateId(): number {
    let id = this.#nextId;
    while (this.#pending.has(id)) id = (id + 1) >>> 0;
    this.#nextId = (id + 1) >>> 0;
    return id;
  }

  #sendQuiet(msg: Message): void {
    try {
      this.#conn.send(msg).catch(() => undefined);
    } catch {
      // Closed: the stream learns it from the connection's close.
    }
  }

  #onMessage(msg: Message, fds: number[]): void {
    switch (msg.type) {
      case MSG.REPLY: {
        const entry = this.#pending.get(msg.id);
        if (entry === undefined) {
          closeFds(fds);
          return;
        }
        let result: unknown;
        try {
          result = RESULT_VALIDATORS[entry.method](msg.result, 'result');
        } catch (err) {
          closeFds(fds);
          entry.reject(new LwError('LW_ERR_PROTO_MALFORMED', `bad ${entry.method} result: ${messageOf(err)}`));
          return;
        }
        entry.onResult?.(result);
        entry.resolve({ result: result as MethodResults[MethodName], fds });
        return;
      }
      case MSG.ERROR: {
        closeFds(fds);
        const err = LwError.fromWire(msg.error);
        if (msg.id === null) this.#shutdown(err);
        else this.#pending.get(msg.id)?.reject(err);
        return;
      }
      case MSG.EVENT:
        closeFds(fds);
        this.#streams.get(msg.stream)?.push({ data: msg.data, position: msg.position, gap: msg.gap });
        return;
      case MSG.END: {
        closeFds(fds);
        const s = this.#streams.get(msg.stream);
        this.#streams.delete(msg.stream);
        s?.finish(msg.error === null ? null : LwError.fromWire(msg.error));
        return;
      }
      default:
        closeFds(fds);
        this.#shutdown(new LwError('LW_ERR_PROTO_MALFORMED', `unexpected message type ${msg.type} from the server`));
    }
  }

  #shutdown(err: LwError): void {
    if (this.#closedReason !== null) return;
    this.#closedReason = err;
    this.#conn.close(err);
    for (const p of [...this.#pending.values()]) p.reject(err);
    for (const s of [...this.#streams.values()]) s.finish(err);
    this.#streams.clear();
    this.#resolveClosed(err);
  }
}

/** A follow stream: an async iterable of events, granting credit back as the consumer takes them. */
export class FollowStream implements AsyncIterableIterator<FollowEvent> {
  readonly #client: RpcClient;
  readonly #args: CallArgs<'follow'>;
  readonly #opts: FollowOptions;
  readonly #window: Credit;
  #streamId: number | null = null;
  #start: Promise<number> | null = null;
  readonly #queue: FollowEvent[] = [];
  #consumedEvents = 0;
  #consumedBytes = 0;
  #done = false;
  #error: LwError | null = null;
  #wake: (() => void) | null = null;

  constructor(client: RpcClient, args: CallArgs<'follow'>, opts: FollowOptions) {
    this.#client = client;
    this.#args = args;
    this.#opts = opts;
    this.#window = { ...(opts.credit ?? DEFAULT_FOLLOW_CREDIT) };
    opts.signal?.addEventListener(
      'abort',
      () => {
        this.#stop(new LwError('LW_ERR_RPC_ABORTED', 'follow aborted'));
      },
      { once: true },
    );
  }

  /** The server's stream id once the follow call returned. */
  get streamId(): number | null {
    return this.#streamId;
  }

  /** Events received and not yet taken by the consumer (bounded by the credit window, plus one). */
  get buffered(): number {
    return this.#queue.length;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<FollowEvent, undefined>> {
    if (this.#start === null) {
      if (this.#opts.signal?.aborted === true) this.#stop(new LwError('LW_ERR_RPC_ABORTED', 'follow aborted'));
      this.#start = this.#done ? Promise.resolve(0) : this.#client.startFollow(this, this.#args, this.#window, this.#opts);
    }
    try {
      const id = await this.#start;
      if (this.#streamId === null && !this.#done) this.#streamId = id;
    } catch (err) {
      this.#done = true;
      throw err;
    }
    for (;;) {
      const ev = this.#queue.shift();
      if (ev !== undefined) {
        this.#consumed(ev);
        return { value: ev, done: false };
      }
      if (this.#done) {
        if (this.#error !== null) throw this.#error;
        return { value: undefined, done: true };
      }
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
  }

  /** Leaving a for-await loop: cancels the stream on the server. */
  return(): Promise<IteratorResult<FollowEvent, undefined>> {
    this.#stop(null);
    return Promise.resolve({ value: undefined, done: true });
  }

  /** @internal an event from the connection */
  push(ev: FollowEvent): void {
    if (this.#done) return;
    this.#queue.push(ev);
    this.#poke();
  }

  /** @internal the server ended the stream, or the connection closed */
  finish(err: LwError | null): void {
    if (this.#done) return;
    this.#done = true;
    this.#error = err;
    this.#poke();
  }

  #stop(err: LwError | null): void {
    if (this.#done) return;
    this.#done = true;
    this.#error = err;
    this.#queue.length = 0;
    if (this.#streamId !== null) this.#client.cancel(this.#streamId);
    else if (this.#start !== null) {
      // The follow call is still in flight: cancel as soon as its id is known.
      this.#start.then((id) => { this.#client.cancel(id); }, () => undefined);
    }
    this.#poke();
  }

  #consumed(ev: FollowEvent): void {
    this.#consumedEvents += 1;
    this.#consumedBytes += ev.data.length;
    // Grant back in batches (half a window) rather than one small frame per event.
    if (this.#consumedEvents * 2 >= this.#window.events || this.#consumedBytes * 2 >= this.#window.bytes) {
      if (this.#streamId !== null && !this.#done) this.#client.grant(this.#streamId, this.#consumedEvents, this.#consumedBytes);
      this.#consumedEvents = 0;
      this.#consumedBytes = 0;
    }
  }

  #poke(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }
}
