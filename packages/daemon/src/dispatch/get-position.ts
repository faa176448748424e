import type { CallContext, HandlerOutput, MethodArgs } from '@logwarden/core/protocol';
import type { DispatchContext } from './context.js';

/** The position after everything written so far (the pipe is drained first). */
export async function getPosition(d: DispatchContext, _ctx: CallContext, args: MethodArgs['getPosition']): Promise<HandlerOutput<'getPosition'>> {
  return { result: { position: await d.handler.getPosition(args.path) } };
}
