import type { CallContext, HandlerOutput } from '@logwarden/core/protocol';
import type { DispatchContext } from './context.js';

/**
 * Re-execs the daemon. On success this process is replaced and the next one answers the call on the
 * same connection once it serves; a failed exec is reported here and the daemon runs on.
 */
export async function upgrade(d: DispatchContext, ctx: CallContext): Promise<HandlerOutput<'upgrade'>> {
  await d.upgrade({ connectionId: ctx.connectionId, callId: ctx.callId });
  return { result: {} };
}
