import type { CallContext, HandlerOutput, MethodArgs } from '@logwarden/core/protocol';
import type { DispatchContext } from './context.js';

export async function closeLog(d: DispatchContext, _ctx: CallContext, args: MethodArgs['closeLog']): Promise<HandlerOutput<'closeLog'>> {
  await d.handler.closeLog(args.path);
  return { result: {} };
}
