// The server side of a follow stream: events leave only while the client's credit lasts.
import { LwError } from './errors.js';
import type { Credit } from './limits.js';
import { MSG, type Message } from './messages.js';
import type { FollowEvent } from './methods.js';

export interface StreamSink {
  readonly streamId: number;
  /**
   * Sends one event once the client has granted credit (and the call's reply has gone out). Writes are
   * sent in call order. Rejects with LW_ERR_RPC_STREAM_CLOSED once the stream is cancelled, the client is
   * gone, or end() was called: a pump loop ends on that rejection.
   */
  write(ev: FollowEvent): Promise<void>;
  /** Ends the stream (with an error for the client when given). Idempotent. */
  end(err?: LwError): void;
  /** Resolves when the stream is over for any reason. */
  readonly closed: Promise<void>;
}

export interface StreamOutput {
  /** Never throws synchronously. */
  send(msg: Message): Promise<void>;
  /** Called after each event left, so the connection can re-check its own send backpressure. */
  sent(): void;
}

export class ServerStream implements StreamSink {
  readonly streamId: number;
  readonly closed: Promise<void>;
  readonly #out: StreamOutput;
  readonly #credit: Credit;
  #started = false;
  #isClosed = false;
  #endError: LwError | null | undefined; // undefined = end() not called
  #chain: Promise<void> = Promise.resolve();
  #wake: (() => void) | null = null;
  #resolveClosed!: () => void;
  readonly #onClosed: () => void;

  constructor(streamId: number, credit: Credit, out: StreamOutput, onClosed: () => void) {
    this.streamId = streamId;
    this.#credit = { ...credit };
    this.#out = out;
    this.#onClosed = onClosed;
    this.closed = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });
  }

  write(ev: FollowEvent): Promise<void> {
    const p = this.#chain.then(() => this.#writeNow(ev));
    this.#chain = p.catch(() => undefined);
    return p;
  }

  end(err?: LwError): void {
    if (this.#isClosed || this.#endError !== undefined) return;
    this.#endError = err ?? null;
    if (this.#started) this.#sendEnd();
    this.#finish();
  }

  /** The call's reply has been queued: events may follow it now. */
  start(): void {
    this.#started = true;
    if (this.#endError !== undefined) this.#sendEnd();
    this.#poke();
  }

  addCredit(events: number, bytes: number): void {
    // Bounded so a hostile client cannot push the counters out of the safe integer range.
    this.#credit.events = Math.min(this.#credit.events + events, 2 ** 32);
    this.#credit.bytes = Math.min(this.#credit.bytes + bytes, 2 ** 48);
    this.#poke();
  }

  /** Cancelled by the client, the connection is gone, or the call failed: nothing more is sent. */
  abandon(): void {
    this.#finish();
  }

  #sendEnd(): void {
    const error = this.#endError ?? null;
    this.#out.send({ type: MSG.END, stream: this.streamId, error: error === null ? null : error.toWire() }).catch(() => undefined);
  }

  #finish(): void {
    if (this.#isClosed) return;
    this.#isClosed = true;
    this.#poke();
    this.#onClosed();
    this.#resolveClosed();
  }

  #poke(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  async #writeNow(ev: FollowEvent): Promise<void> {
    for (;;) {
      if (this.#isClosed) throw new LwError('LW_ERR_RPC_STREAM_CLOSED', `stream ${this.streamId} is closed`);
      // Byte credit may go negative by one event: an event larger than the window must still get through.
      if (this.#started && this.#credit.events > 0 && this.#credit.bytes > 0) break;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
    this.#credit.events -= 1;
    this.#credit.bytes -= ev.data.length;
    try {
      await this.#out.send({ type: MSG.EVENT, stream: this.streamId, data: ev.data, position: ev.position, gap: ev.gap });
    } catch (err) {
      this.#finish();
      throw new LwError('LW_ERR_RPC_STREAM_CLOSED', `stream ${this.streamId}: ${err instanceof Error ? err.message : String(err)}`, undefined, { cause: err });
    }
    this.#out.sent();
  }
}
