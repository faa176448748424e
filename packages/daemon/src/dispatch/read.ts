import type { CallContext, HandlerOutput, MethodArgs } from '@logwarden/core/protocol';
import type { DispatchContext } from './context.js';

/**
 * Binary-safe read across rotations, of everything written so far (the pipes are flushed first);
 * maxLen was bounded by the protocol (LIMITS.maxReadLen).
 */
export async function read(d: DispatchContext, _ctx: CallContext, args: MethodArgs['read']): Promise<HandlerOutput<'read'>> {
  await d.handler.flush(args.path);
  return { result: d.handler.read(args.path, args.position, args.maxLen) };
}
