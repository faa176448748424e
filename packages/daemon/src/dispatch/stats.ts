import type { CallContext, HandlerOutput, MethodArgs } from '@logwarden/core/protocol';
import type { DispatchContext } from './context.js';

export function stats(d: DispatchContext, _ctx: CallContext, args: MethodArgs['stats']): Promise<HandlerOutput<'stats'>> {
  const logs = args.path === undefined ? d.handler.list() : [d.handler.info(args.path)];
  return Promise.resolve({ result: { uptimeMs: d.uptimeMs, upgrades: d.upgrades, logs } });
}
