// A hostile client for the bad-input and upgrade tests: writes whatever bytes and fds it is told
// to and collects the frames the daemon sends back, without any of RpcClient's own checks; it can
// also stop reading, so that the daemon's replies back up.
import { close, UnixSocket } from '@logwarden/core/native';
import { FrameDecoder, MSG, METHOD_IDS, PROTOCOL_VERSION, decodeMessage, encodeFrame, type Message } from '@logwarden/core/protocol';

export class RawClient {
  readonly #socket: UnixSocket;
  readonly #decoder = new FrameDecoder();
  readonly #queue: Message[] = [];
  #wake: (() => void) | null = null;
  #ended = false;
  #received = 0;

  private constructor(socket: UnixSocket) {
    this.#socket = socket;
    socket.on('message', (m: { data: Buffer; fds: number[] }) => {
      this.#received += m.data.length;
      for (const fd of m.fds) close(fd);
      for (const frame of this.#decoder.push(m.data)) this.#queue.push(decodeMessage(frame.body));
      this.#poke();
    });
    const ended = (): void => {
      this.#ended = true;
      this.#poke();
    };
    socket.on('end', ended);
    socket.on('close', ended);
    socket.on('error', ended);
  }

  static connect(path: string): RawClient {
    return new RawClient(UnixSocket.connect(path, 'stream'));
  }

  /** Connects and completes hello, so later frames are judged as calls. */
  static async hello(path: string): Promise<RawClient> {
    const c = RawClient.connect(path);
    await c.call(0, METHOD_IDS.hello, { version: PROTOCOL_VERSION });
    const reply = await c.next();
    if (reply.type !== MSG.REPLY) throw new Error(`hello failed: ${JSON.stringify(reply)}`);
    return c;
  }

  /** Bytes received so far (whole frames or not). */
  get received(): number {
    return this.#received;
  }

  /** Stops reading: what the daemon sends next waits in its socket. */
  pause(): void {
    this.#socket.pause();
  }

  send(data: Uint8Array | Uint8Array[], fds: number[] = []): Promise<void> {
    return this.#socket.send(data, { fds });
  }

  call(id: number, method: number, args: unknown, flags = 0): Promise<void> {
    return this.send(encodeFrame({ type: MSG.CALL, id, method, flags, args }));
  }

  /** The next frame from the daemon; rejects when the connection ended first or after `ms`. */
  async next(ms = 20_000): Promise<Message> {
    const end = Date.now() + ms;
    for (;;) {
      const msg = this.#queue.shift();
      if (msg !== undefined) return msg;
      if (this.#ended) throw new Error('connection closed');
      if (Date.now() > end) throw new Error('timed out waiting for a frame');
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        setTimeout(resolve, 50);
      });
    }
  }

  /** Resolves once the daemon has closed the connection (bounded). */
  async closedByPeer(ms = 20_000): Promise<boolean> {
    const end = Date.now() + ms;
    while (!this.#ended && Date.now() < end) {
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        setTimeout(resolve, 50);
      });
    }
    return this.#ended;
  }

  close(): void {
    this.#socket.close();
    for (const fd of this.#decoder.dispose()) close(fd);
  }

  #poke(): void {
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }
}
