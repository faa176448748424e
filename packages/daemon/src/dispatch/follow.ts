import { LwError, type CallContext, type HandlerOutput, type MethodArgs, type StreamSink } from '@logwarden/core/protocol';
import type { ReadOutcome } from '../log-handler.js';
import type { DispatchContext } from './context.js';

// Bytes per event: large enough to keep up with a flooding guest, small against the 8 MiB frame
// limit and the client's default 1 MiB byte credit.
const EVENT_BYTES = 256 * 1024;

/**
 * Streams a log from a position: everything already there, then new bytes as they arrive, across
 * rotations (a gap says how much was rotated away unread). The client's credit paces it.
 */
export function follow(d: DispatchContext, ctx: CallContext, args: MethodArgs['follow']): Promise<HandlerOutput<'follow'>> {
  const rel = d.handler.root.normalize(args.path);
  // An unknown log or a bad position fails the call itself, before a stream exists.
  const first = d.handler.read(rel, args.position, EVENT_BYTES);
  const sink = ctx.openStream();
  void pump(d, rel, first, sink);
  return Promise.resolve({ result: { streamId: sink.streamId } });
}

async function pump(d: DispatchContext, rel: string, first: ReadOutcome, sink: StreamSink): Promise<void> {
  const over = new AbortController();
  void sink.closed.then(() => {
    over.abort();
  });
  let r = first;
  try {
    for (;;) {
      if (r.data.length > 0 || r.gap > 0) {
        await sink.write(r);
      } else {
        // Registered synchronously after the empty read: no write can slip in between.
        await d.handler.waitForChange(rel, over.signal);
        if (over.signal.aborted) return;
      }
      r = d.handler.read(rel, r.position, EVENT_BYTES);
    }
  } catch (err) {
    if (over.signal.aborted || (err instanceof LwError && err.code === 'LW_ERR_RPC_STREAM_CLOSED')) return;
    if (!(err instanceof LwError)) d.logger.error('follow failed', { path: rel, err });
    sink.end(err instanceof LwError ? err : new LwError('LW_ERR_INTERNAL'));
  }
}
