import type { CallContext, HandlerOutput, MethodArgs } from '@logwarden/core/protocol';
import type { DispatchContext } from './context.js';
import { checkOverrides } from './overrides.js';

export async function append(d: DispatchContext, _ctx: CallContext, args: MethodArgs['append']): Promise<HandlerOutput<'append'>> {
  checkOverrides(args);
  const position = await d.handler.append({
    driver: args.driver,
    domain: args.domain,
    path: args.path,
    data: args.data,
    maxSize: args.maxSize,
    maxBackups: args.maxBackups,
  });
  return { result: { position } };
}
