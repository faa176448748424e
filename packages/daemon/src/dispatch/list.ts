import type { HandlerOutput } from '@logwarden/core/protocol';
import type { DispatchContext } from './context.js';

export function list(d: DispatchContext): Promise<HandlerOutput<'list'>> {
  return Promise.resolve({ result: { logs: d.handler.list() } });
}
