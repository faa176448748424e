// RpcServer: accepts connections, checks peers, decodes calls, runs handlers, streams follow events.
// One misbehaving client only ever loses its own connection.
import { chownSync, lstatSync, unlinkSync } from 'node:fs';
import { dup, UnixServer, UnixSocket, isSysError, type Creds } from '../native/index.js';
import { closeFds, FramedConnection } from './connection.js';
import { LwError } from './errors.js';
import { DEFAULT_FOLLOW_CREDIT, LIMITS, PROTOCOL_VERSION, type Limits } from './limits.js';
import {
  MSG,
  decodeMessage,
  encodeMessage,
  validateCall,
  type CallMessage,
  type DecodedCall,
  type Message,
} from './messages.js';
import { METHOD_IDS, METHOD_NAMES, type CallArgs, type MethodArgs, type MethodName, type MethodResults } from './methods.js';
import { ServerStream, type StreamSink } from './server-stream.js';

export type { StreamSink } from './server-stream.js';

export type Peer = Creds;

export interface CallContext {
  peer: Peer;
  connectionId: number;
  callId: number;
  method: MethodName;
  /** Aborted when the client disconnects or the server closes. */
  signal: AbortSignal;
  /** Only for follow: the stream whose id the handler returns as `streamId`. */
  openStream(): StreamSink;
}

/** Methods the server answers itself. */
export type BuiltinMethod = 'hello' | 'cancel';
export type HandledMethod = Exclude<MethodName, BuiltinMethod>;

export interface HandlerOutput<M extends MethodName> {
  result: MethodResults[M];
  /** Sent with the reply; the server closes its copies once sent (or when the reply cannot be sent). */
  fds?: number[];
}

export type RpcHandlers = {
  [M in HandledMethod]?: (ctx: CallContext, args: MethodArgs[M]) => Promise<HandlerOutput<M>>;
};

export type LogLevelName = 'error' | 'warn' | 'info' | 'debug';

export interface RpcServerOptions {
  /** SO_PEERCRED of each connecting client; false refuses it with LW_ERR_AUTH_DENIED. */
  authorize(peer: Peer): boolean;
  maxClients: number;
  serverName: string;
  limits?: Limits;
  /** A connection that has not said hello by then is closed (default 10 s). */
  helloTimeoutMs?: number;
  /** Reading from a connection pauses while this many of its calls run (default 64). */
  maxCallsInFlight?: number;
  /** Follow streams one connection may hold open (default 64); more is LW_ERR_RPC_TOO_MANY_STREAMS. */
  maxStreamsPerConnection?: number;
  /** ...or while this many reply bytes wait to be sent to it (default 16 MiB). */
  maxPendingSendBytes?: number;
  log?: (level: LogLevelName, message: string, fields?: Record<string, unknown>) => void;
}

/** A client connection suspend() left ready to cross a re-exec. */
export interface SuspendedConnection {
  fd: number;
  connectionId: number;
}

export interface InjectOptions {
  peer?: Peer;
  signal?: AbortSignal;
  /** Receives follow events (unbounded credit: inject is for in-process tests). */
  onEvent?: (ev: { streamId: number; data: Uint8Array; position: { inode: string; offset: number }; gap: number }) => void;
  onEnd?: (streamId: number, err: LwError | null) => void;
}

/** What a server connection needs from its transport: a socket, or the in-process one of inject(). */
interface Transport {
  /** May throw synchronously (closed, frame too large) before anything is queued. */
  send(msg: Message, fds?: readonly number[]): Promise<void>;
  readonly pendingSendBytes: number;
  pause(): void;
  resume(): void;
  close(): void;
  /** Sends a last message and closes once the peer had a chance to read it. */
  closeAfter(msg: Message): void;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

interface ConnectionLimits {
  maxCallsInFlight: number;
  maxStreams: number;
  maxPendingSendBytes: number;
}

class ServerConnection {
  readonly id: number;
  readonly peer: Peer;
  readonly #server: RpcServer;
  readonly #opts: ConnectionLimits;
  #transport: Transport | null = null;
  #helloDone = false;
  #closing = false;
  #closed = false;
  readonly #calls = new Map<number, AbortController>();
  /** Reply bytes promised to calls still running (a read's maxLen), counted before the reply exists. */
  #reservedReplyBytes = 0;
  readonly #streams = new Map<number, ServerStream>();
  #nextStreamId = 1;
  #helloTimer: NodeJS.Timeout | null = null;
  readonly running = new Set<Promise<void>>();
  /** Set while the server is suspended for a re-exec: reading stays paused. */
  #suspended = false;
  /** Calls already failed by interrupt(): a late result must not reach the client twice. */
  readonly #interrupted = new Set<number>();

  constructor(server: RpcServer, id: number, peer: Peer, opts: ConnectionLimits, helloDone: boolean) {
    this.#server = server;
    this.id = id;
    this.peer = peer;
    this.#opts = opts;
    this.#helloDone = helloDone;
  }

  attach(transport: Transport, helloTimeoutMs: number | null): void {
    this.#transport = transport;
    if (helloTimeoutMs !== null && !this.#helloDone) {
      this.#helloTimer = setTimeout(() => {
        this.fail(new LwError('LW_ERR_PROTO_HELLO_REQUIRED', `no hello within ${helloTimeoutMs} ms`));
      }, helloTimeoutMs);
      this.#helloTimer.unref();
    }
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  /** Closed, or closing after a connection-level error. */
  get isEnding(): boolean {
    return this.#closed || this.#closing;
  }

  get helloDone(): boolean {
    return this.#helloDone;
  }

  /** Stops reading and ends every follow stream with `err` (re-exec). */
  suspend(err: LwError): void {
    if (this.#closing || this.#closed) return;
    this.#suspended = true;
    this.#transport?.pause();
    for (const s of [...this.#streams.values()]) s.end(err);
  }

  unsuspend(): void {
    this.#suspended = false;
    this.#backpressure();
  }

  /** Calls still running, other than `keepCallId` and those interrupt() already answered. */
  busyCalls(keepCallId: number | null): number {
    let n = 0;
    for (const id of this.#calls.keys()) if (id !== keepCallId && !this.#interrupted.has(id)) n++;
    return n;
  }

  /** Answers every running call but `keepCallId` with `err` now; their results are dropped later. */
  interrupt(err: LwError, keepCallId: number | null): void {
    for (const id of this.#calls.keys()) {
      if (id === keepCallId || this.#interrupted.has(id)) continue;
      this.#sendError(id, err);
      this.#interrupted.add(id);
    }
  }

  /** Connection-level error: one error frame (id null), then close. */
  fail(err: LwError): void {
    if (this.#closing || this.#closed) return;
    this.#closing = true;
    const t = this.#transport;
    if (t === null) return;
    t.pause();
    this.#server.log('debug', 'closing connection', { connectionId: this.id, code: err.code, message: err.message });
    t.closeAfter({ type: MSG.ERROR, id: null, error: err.toWire() });
  }

  /** The transport is gone: abort running calls, close streams. */
  onClosed(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#helloTimer !== null) clearTimeout(this.#helloTimer);
    const reason = new LwError('LW_ERR_RPC_CLOSED', 'client disconnected');
    for (const ac of this.#calls.values()) ac.abort(reason);
    for (const s of [...this.#streams.values()]) s.abandon();
  }

  onMessage(msg: Message, fds: number[]): void {
    if (this.#closing || this.#closed) {
      closeFds(fds);
      return;
    }
    if (msg.type === MSG.CREDIT) {
      closeFds(fds);
      // Credit for a stream that just ended crosses its END on the wire: not an error.
      this.#streams.get(msg.stream)?.addCredit(msg.events, msg.bytes);
      return;
    }
    if (msg.type !== MSG.CALL) {
      closeFds(fds);
      this.fail(new LwError('LW_ERR_PROTO_MALFORMED', `unexpected message type ${msg.type} from a client`));
      return;
    }
    this.call(msg, fds);
  }

  call(msg: CallMessage, fds: number[]): void {
    let call: DecodedCall;
    try {
      call = validateCall(msg, fds.length);
    } catch (err) {
      closeFds(fds);
      const e = err instanceof LwError ? err : new LwError('LW_ERR_INTERNAL');
      if (!this.#helloDone) this.fail(e);
      else this.#sendError(msg.id, e);
      return;
    }
    if (!this.#helloDone && call.method !== 'hello') {
      this.fail(new LwError('LW_ERR_PROTO_HELLO_REQUIRED', `${call.method} before hello`));
      return;
    }
    if (this.#calls.has(call.id)) {
      this.fail(new LwError('LW_ERR_PROTO_DUPLICATE_ID', `call id ${call.id} is already in progress`));
      return;
    }
    const ac = new AbortController();
    this.#calls.set(call.id, ac);
    // A client that sends many big reads and never takes the replies would otherwise make the daemon
    // hold maxCallsInFlight x maxLen bytes: reserve the reply's size now, so reading pauses in time.
    const reserved = call.method === 'read' ? call.args.maxLen : 0;
    this.#reservedReplyBytes += reserved;
    this.#backpressure();
    const running = this.#run(call, ac.signal).finally(() => {
      this.#reservedReplyBytes -= reserved;
      this.#calls.delete(call.id);
      this.#interrupted.delete(call.id);
      this.running.delete(running);
      this.#backpressure();
    });
    this.running.add(running);
  }

  async #run(call: DecodedCall, signal: AbortSignal): Promise<void> {
    let stream: ServerStream | null = null;
    let out: HandlerOutput<MethodName>;
    try {
      out = await this.#dispatch(call, signal, () => {
        if (call.method !== 'follow') throw new LwError('LW_ERR_INTERNAL', 'openStream() outside follow');
        if (stream !== null) throw new LwError('LW_ERR_INTERNAL', 'openStream() called twice');
        stream = this.#openStream(call.args.credit ?? DEFAULT_FOLLOW_CREDIT);
        return stream;
      });
    } catch (err) {
      (stream as ServerStream | null)?.abandon();
      this.#sendError(call.id, this.#toLwError(err, call.method));
      return;
    }
    const fds = out.fds ?? [];
    const started = stream as ServerStream | null;
    try {
      if (this.#closed || this.#closing || this.#transport === null) throw new LwError('LW_ERR_RPC_CLOSED');
      if (this.#interrupted.has(call.id)) return;
      const sent = this.#transport.send({ type: MSG.REPLY, id: call.id, result: out.result }, fds);
      started?.start();
      await sent;
    } catch (err) {
      started?.abandon();
      if (!this.#closed && !this.#closing) this.#sendError(call.id, this.#toLwError(err, call.method));
    } finally {
      closeFds(fds);
    }
  }

  async #dispatch(call: DecodedCall, signal: AbortSignal, openStream: () => StreamSink): Promise<HandlerOutput<MethodName>> {
    if (call.method === 'hello') {
      if (call.args.version !== PROTOCOL_VERSION) {
        const err = new LwError('LW_ERR_PROTO_VERSION', `protocol version ${call.args.version} not supported`, {
          supported: [PROTOCOL_VERSION],
        });
        this.fail(err);
        throw err;
      }
      this.#helloDone = true;
      if (this.#helloTimer !== null) clearTimeout(this.#helloTimer);
      return { result: { version: PROTOCOL_VERSION, server: this.#server.serverName, methods: this.#server.methods() } };
    }
    if (call.method === 'cancel') {
      const s = this.#streams.get(call.args.streamId);
      if (s === undefined) throw new LwError('LW_ERR_RPC_UNKNOWN_STREAM', `no stream ${call.args.streamId}`);
      s.abandon();
      return { result: {} };
    }
    const handler = this.#server.handler(call.method) as
      | ((ctx: CallContext, args: unknown) => Promise<HandlerOutput<MethodName>>)
      | undefined;
    if (handler === undefined) throw new LwError('LW_ERR_RPC_NOT_IMPLEMENTED', `${call.method} is not implemented`);
    const ctx: CallContext = {
      peer: this.peer,
      connectionId: this.id,
      callId: call.id,
      method: call.method,
      signal,
      openStream,
    };
    return handler(ctx, call.args);
  }

  #openStream(credit: { events: number; bytes: number }): ServerStream {
    if (this.#streams.size >= this.#opts.maxStreams) {
      throw new LwError('LW_ERR_RPC_TOO_MANY_STREAMS', `at most ${this.#opts.maxStreams} streams per connection`);
    }
    const id = this.#nextStreamId++;
    const stream = new ServerStream(
      id,
      credit,
      {
        send: (msg) => {
          try {
            if (this.#transport === null || this.#closed) throw new LwError('LW_ERR_RPC_CLOSED');
            return this.#transport.send(msg);
          } catch (err) {
            return Promise.reject(err instanceof Error ? err : new Error(String(err)));
          }
        },
        sent: () => {
          this.#backpressure();
        },
      },
      () => this.#streams.delete(id),
    );
    this.#streams.set(id, stream);
    if (this.#closed) stream.abandon();
    return stream;
  }

  #toLwError(err: unknown, method: MethodName): LwError {
    if (err instanceof LwError) return err;
    this.#server.log('error', `handler ${method} failed`, { connectionId: this.id, error: errorMessage(err) });
    return new LwError('LW_ERR_INTERNAL');
  }

  #sendError(id: number, err: LwError): void {
    if (this.#closed || this.#closing || this.#transport === null || this.#interrupted.has(id)) return;
    try {
      this.#transport.send({ type: MSG.ERROR, id, error: err.toWire() }).catch(() => undefined);
    } catch {
      // Connection already closed: nobody to tell.
    }
  }

  /** Stops reading a client that has too many calls running or too many reply bytes it does not read. */
  #backpressure(): void {
    const t = this.#transport;
    if (t === null || this.#closing || this.#closed) return;
    if (this.#suspended) t.pause();
    else if (
      this.#calls.size >= this.#opts.maxCallsInFlight ||
      t.pendingSendBytes + this.#reservedReplyBytes >= this.#opts.maxPendingSendBytes
    ) {
      t.pause();
    } else t.resume();
  }
}

export class RpcServer {
  readonly serverName: string;
  readonly #handlers: RpcHandlers;
  readonly #opts: RpcServerOptions;
  readonly #limits: Limits;
  #listener: UnixServer | null = null;
  readonly #connections = new Set<ServerConnection>();
  /** The socket side of each real (not injected) connection, for handing it over at re-exec. */
  readonly #framed = new Map<ServerConnection, FramedConnection>();
  readonly #onConnection = (socket: UnixSocket): void => {
    this.#accept(socket, false);
  };
  #nextConnectionId = 1;
  #closed = false;

  constructor(handlers: RpcHandlers, opts: RpcServerOptions) {
    for (const name of Object.keys(handlers)) {
      if (!(METHOD_NAMES as readonly string[]).includes(name) || name === 'hello' || name === 'cancel') {
        throw new LwError('LW_ERR_INTERNAL', `RpcServer: no handler may be given for ${name}`);
      }
    }
    this.#handlers = handlers;
    this.#opts = opts;
    this.serverName = opts.serverName;
    this.#limits = opts.limits ?? LIMITS;
  }

  /** Number of connected clients (injected calls do not count). */
  get clientCount(): number {
    let n = 0;
    for (const c of this.#connections) if (c.id > 0) n++;
    return n;
  }

  /** The listening socket's fd (to hand over across re-exec), or null. */
  get fd(): number | null {
    return this.#listener?.fd ?? null;
  }

  /** Listens on `path` (mode 0600 unless told). A stale socket left by a dead daemon is replaced. */
  listen(path: string, opts: { mode?: number; gid?: number } = {}): void {
    const mode = opts.mode ?? 0o600;
    let listener: UnixServer;
    try {
      listener = UnixServer.listen(path, 'stream', { mode });
    } catch (err) {
      if (!isSysError(err, 'EADDRINUSE') || !isStaleSocket(path)) throw err;
      unlinkSync(path);
      listener = UnixServer.listen(path, 'stream', { mode });
    }
    if (opts.gid !== undefined) chownSync(path, -1, opts.gid);
    this.#serve(listener);
  }

  /** Serves an already listening socket (socket activation, or inherited across re-exec). */
  adopt(listenFd: number): void {
    this.#serve(UnixServer.fromFd(listenFd, 'stream'));
  }

  /** Calls a method in process, through the same validation, dispatch and encoding, without a socket. */
  inject<M extends MethodName>(
    method: M,
    args: CallArgs<M>,
    opts: InjectOptions = {},
  ): Promise<{ result: MethodResults[M]; fds: number[] }> {
    const peer = opts.peer ?? { pid: process.pid, uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
    if (!this.#opts.authorize(peer)) return Promise.reject(new LwError('LW_ERR_AUTH_DENIED'));
    const callId = 1;
    return new Promise((resolve, reject) => {
      const conn = new ServerConnection(this, -this.#nextConnectionId++, peer, this.#connOpts(), true);
      const closeConn = (): void => {
        conn.onClosed();
        this.#connections.delete(conn);
      };
      let openStreams = 0;
      const transport: Transport = {
        send: (msg, fds = []) => {
          if (conn.isClosed) throw new LwError('LW_ERR_RPC_CLOSED');
          // Through the codec, so an injected call sees exactly what a socket client would.
          const wire = decodeMessage(encodeMessage(msg), this.#limits);
          const ours = fds.map((fd) => dup(fd));
          if (wire.type === MSG.REPLY && wire.id === callId) {
            if (method === 'follow') openStreams++;
            else queueMicrotask(closeConn);
            resolve({ result: wire.result as MethodResults[M], fds: ours });
          } else if (wire.type === MSG.ERROR) {
            closeFds(ours);
            reject(LwError.fromWire(wire.error));
            queueMicrotask(closeConn);
          } else if (wire.type === MSG.EVENT) {
            opts.onEvent?.({ streamId: wire.stream, data: wire.data, position: wire.position, gap: wire.gap });
          } else if (wire.type === MSG.END) {
            opts.onEnd?.(wire.stream, wire.error === null ? null : LwError.fromWire(wire.error));
            if (--openStreams === 0) queueMicrotask(closeConn);
          }
          return Promise.resolve();
        },
        pendingSendBytes: 0,
        pause: () => undefined,
        resume: () => undefined,
        close: closeConn,
        closeAfter: (msg) => {
          if (!conn.isClosed) void transport.send(msg);
          closeConn();
        },
      };
      conn.attach(transport, null);
      this.#connections.add(conn);
      opts.signal?.addEventListener('abort', closeConn, { once: true });
      const { flags, ...rest } = args;
      const body = encodeMessage({ type: MSG.CALL, id: callId, method: METHOD_IDS[method], flags: flags ?? 0, args: rest });
      const msg = decodeMessage(body, this.#limits);
      if (msg.type !== MSG.CALL) throw new LwError('LW_ERR_INTERNAL');
      conn.call(msg, []);
    });
  }

  /**
   * Prepares a re-exec: stops accepting and reading, ends follow streams with `err`, gives running
   * calls up to `timeoutMs` to finish and answers the rest with `err`, then waits (as long again) for
   * replies to leave. Returns the connections another process can carry on (hello done, no partial
   * frame, nothing unsent); the others are closed. `keep` is a call left unanswered (the upgrade call
   * itself, which the next process answers through adoptConnection()).
   */
  async suspend(err: LwError, opts: { timeoutMs: number; keep?: { connectionId: number; callId: number } }): Promise<SuspendedConnection[]> {
    this.#listener?.removeListener('connection', this.#onConnection);
    for (const c of this.#connections) c.suspend(err);
    const keepOf = (c: ServerConnection): number | null => (c.id === opts.keep?.connectionId ? opts.keep.callId : null);
    const settled = (): boolean =>
      [...this.#connections].every(
        (c) => c.isEnding || (c.busyCalls(keepOf(c)) === 0 && (this.#framed.get(c)?.pendingSendBytes ?? 0) === 0),
      );
    // Neither running handlers nor the kernel taking our bytes signal an event we could wait on: poll
    // briefly (handlers here are synchronous or short, so this ends within a few turns).
    for (let round = 0; round < 2; round++) {
      const deadline = Date.now() + opts.timeoutMs;
      while (!settled() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 2));
      for (const c of this.#connections) c.interrupt(err, keepOf(c));
    }
    const out: SuspendedConnection[] = [];
    for (const [c, framed] of [...this.#framed]) {
      if (c.isEnding) continue;
      if (!c.helloDone || framed.midFrame || framed.pendingSendBytes > 0) c.fail(err);
      else out.push({ fd: framed.fd, connectionId: c.id });
    }
    return out;
  }

  /** Undoes suspend() (the re-exec failed): accepting and reading start again. */
  resume(): void {
    if (this.#closed) return;
    this.#listener?.on('connection', this.#onConnection);
    for (const c of this.#connections) c.unsuspend();
  }

  /**
   * Serves a client connection inherited across re-exec (its hello was done by the previous process).
   * `replyTo` is a call of that client the previous process left for us to answer with an empty result.
   */
  adoptConnection(fd: number, replyTo?: number): void {
    const framed = this.#accept(UnixSocket.fromFd(fd, 'stream'), true);
    if (framed !== null && replyTo !== undefined) {
      framed.send({ type: MSG.REPLY, id: replyTo, result: {} }).catch(() => undefined);
    }
  }

  /** Stops listening, disconnects every client (aborting their calls) and waits for running handlers. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#listener?.close();
    this.#listener = null;
    const running: Promise<void>[] = [];
    for (const c of this.#connections) {
      running.push(...c.running);
      c.fail(new LwError('LW_ERR_RPC_CLOSED', 'server shutting down'));
    }
    await Promise.allSettled(running);
  }

  /** @internal */
  handler(method: HandledMethod): RpcHandlers[HandledMethod] {
    return this.#handlers[method];
  }

  /** @internal Methods this server answers, for hello. */
  methods(): string[] {
    return METHOD_NAMES.filter((m) => m === 'hello' || m === 'cancel' || this.#handlers[m] !== undefined);
  }

  /** @internal */
  log(level: LogLevelName, message: string, fields?: Record<string, unknown>): void {
    this.#opts.log?.(level, message, fields);
  }

  #connOpts(): ConnectionLimits {
    return {
      maxCallsInFlight: this.#opts.maxCallsInFlight ?? 64,
      maxStreams: this.#opts.maxStreamsPerConnection ?? 64,
      maxPendingSendBytes: this.#opts.maxPendingSendBytes ?? 16 * 1024 * 1024,
    };
  }

  #serve(listener: UnixServer): void {
    if (this.#closed) {
      listener.close();
      throw new LwError('LW_ERR_RPC_CLOSED', 'server closed');
    }
    this.#listener?.close();
    this.#listener = listener;
    listener.on('connection', this.#onConnection);
    listener.on('error', (err: unknown) => {
      this.log('error', 'listening socket failed', { error: errorMessage(err) });
    });
  }

  /** `inherited`: a connection adopted across re-exec (its hello was done before). */
  #accept(socket: UnixSocket, inherited: boolean): FramedConnection | null {
    let peer: Peer;
    try {
      peer = socket.peerCred();
    } catch (err) {
      this.log('warn', 'SO_PEERCRED failed', { error: errorMessage(err) });
      socket.close();
      return null;
    }
    const id = this.#nextConnectionId++;
    const conn = new ServerConnection(this, id, peer, this.#connOpts(), inherited);
    const framed = new FramedConnection(
      socket,
      {
        message: (msg, fds) => {
          conn.onMessage(msg, fds);
        },
        fatal: (err) => {
          conn.fail(err);
        },
        closed: () => {
          conn.onClosed();
          this.#connections.delete(conn);
          this.#framed.delete(conn);
        },
      },
      this.#limits,
    );
    conn.attach(framed, inherited ? null : (this.#opts.helloTimeoutMs ?? 10_000));
    this.#connections.add(conn);
    this.#framed.set(conn, framed);
    let refusal: LwError | null = null;
    if (this.clientCount > this.#opts.maxClients) {
      refusal = new LwError('LW_ERR_RPC_TOO_MANY_CLIENTS', `at most ${this.#opts.maxClients} clients`);
    } else {
      try {
        if (!this.#opts.authorize(peer)) refusal = new LwError('LW_ERR_AUTH_DENIED', `peer uid ${peer.uid} pid ${peer.pid} refused`);
      } catch (err) {
        this.log('error', 'authorize() threw', { error: errorMessage(err) });
        refusal = new LwError('LW_ERR_AUTH_DENIED');
      }
    }
    if (refusal !== null) {
      this.log('info', 'client refused', { code: refusal.code, pid: peer.pid, uid: peer.uid });
      conn.fail(refusal);
      return null;
    }
    framed.resume();
    return framed;
  }
}

/** True when `path` is a socket nobody listens on any more. */
function isStaleSocket(path: string): boolean {
  try {
    if (!lstatSync(path).isSocket()) return false;
  } catch {
    return false;
  }
  try {
    UnixSocket.connect(path, 'stream').close();
    return false;
  } catch (err) {
    return isSysError(err, 'ECONNREFUSED');
  }
}
