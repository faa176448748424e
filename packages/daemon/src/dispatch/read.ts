import type { CallContext, HandlerOutput, MethodArgs } from '@logwarden/core/protocol';
import type { DispatchContext } from './context.js';

/** Binary-safe read across rotations; maxLen was bounded by the protocol (LIMITS.maxReadLen). */
export function read(d: DispatchContext, _ctx: CallContext, args: MethodArgs['read']): Promise<HandlerOutput<'read'>> {
  return Promise.resolve({ result: d.handler.read(args.path, args.position, args.maxLen) });
}
