import type { CallContext, HandlerOutput, MethodArgs } from '@logwarden/core/protocol';
import type { DispatchContext } from './context.js';

export function removeLog(d: DispatchContext, _ctx: CallContext, args: MethodArgs['removeLog']): Promise<HandlerOutput<'removeLog'>> {
  return Promise.resolve({ result: { removed: d.handler.removeLog(args.path) } });
}
