// The RPC dispatch table: one small stateless function per method, each in its own file.
// hello and cancel are answered by the RpcServer itself.
import type { RpcHandlers } from '@logwarden/core/protocol';
import { append } from './append.js';
import { closeLog } from './close-log.js';
import type { DispatchContext } from './context.js';
import { follow } from './follow.js';
import { getPosition } from './get-position.js';
import { list } from './list.js';
import { openLog } from './open-log.js';
import { read } from './read.js';
import { reloadConfig } from './reload-config.js';
import { removeLog } from './remove-log.js';
import { setLogLevel } from './set-log-level.js';
import { stats } from './stats.js';
import { upgrade } from './upgrade.js';

export type { DispatchContext } from './context.js';

export function createHandlers(d: DispatchContext): RpcHandlers {
  return {
    openLog: (ctx, args) => openLog(d, ctx, args),
    getPosition: (ctx, args) => getPosition(d, ctx, args),
    read: (ctx, args) => read(d, ctx, args),
    append: (ctx, args) => append(d, ctx, args),
    follow: (ctx, args) => follow(d, ctx, args),
    list: () => list(d),
    closeLog: (ctx, args) => closeLog(d, ctx, args),
    removeLog: (ctx, args) => removeLog(d, ctx, args),
    stats: (ctx, args) => stats(d, ctx, args),
    setLogLevel: (ctx, args) => setLogLevel(d, ctx, args),
    reloadConfig: () => reloadConfig(d),
    upgrade: (ctx) => upgrade(d, ctx),
  };
}
