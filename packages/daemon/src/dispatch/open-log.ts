import { OPEN_FLAGS, type CallContext, type HandlerOutput, type MethodArgs } from '@logwarden/core/protocol';
import type { DispatchContext } from './context.js';
import { checkOverrides } from './overrides.js';

/** Opens a log and hands the client the write end of its pipe (the daemon keeps the read end). */
export function openLog(d: DispatchContext, _ctx: CallContext, args: MethodArgs['openLog']): Promise<HandlerOutput<'openLog'>> {
  checkOverrides(args);
  const { position, writeFd } = d.handler.openLog({
    driver: args.driver,
    domain: args.domain,
    path: args.path,
    truncate: (args.flags & OPEN_FLAGS.TRUNCATE) !== 0,
    maxSize: args.maxSize,
    maxBackups: args.maxBackups,
  });
  d.journal?.opened(args, position);
  return Promise.resolve({ result: { position }, fds: [writeFd] });
}
