import type { CallContext, HandlerOutput, MethodArgs } from '@logwarden/core/protocol';
import type { DispatchContext } from './context.js';

export function setLogLevel(d: DispatchContext, ctx: CallContext, args: MethodArgs['setLogLevel']): Promise<HandlerOutput<'setLogLevel'>> {
  d.logger.setLevel(args.level);
  d.logger.info('log level set', { level: args.level, uid: ctx.peer.uid, pid: ctx.peer.pid });
  return Promise.resolve({ result: {} });
}
