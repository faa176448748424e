import type { CallContext, HandlerOutput, MethodArgs } from '@logwarden/core/protocol';
import type { DispatchContext } from './context.js';

/** The position after everything written so far (the pipe is drained first). */
export function getPosition(d: DispatchContext, _ctx: CallContext, args: MethodArgs['getPosition']): Promise<HandlerOutput<'getPosition'>> {
  return Promise.resolve({ result: { position: d.handler.getPosition(args.path) } });
}
