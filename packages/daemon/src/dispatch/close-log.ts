import type { CallContext, HandlerOutput, MethodArgs } from '@logwarden/core/protocol';
import type { DispatchContext } from './context.js';

export function closeLog(d: DispatchContext, _ctx: CallContext, args: MethodArgs['closeLog']): Promise<HandlerOutput<'closeLog'>> {
  d.handler.closeLog(args.path);
  return Promise.resolve({ result: {} });
}
