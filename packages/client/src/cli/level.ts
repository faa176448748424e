// `logwarden level`: change the daemon's own log level at run time.
import { LOG_LEVELS, type LogLevel } from '@logwarden/core/protocol';
import { UsageError, type Command } from './command.js';
import { json, write } from './format.js';

export const level: Command = {
  name: 'level',
  synopsis: 'LEVEL',
  summary: `set the daemon's log level (${LOG_LEVELS.join('|')})`,
  options: {},
  positionals: { min: 1, max: 1 },
  async run(ctx, _values, [name = '']) {
    if (!(LOG_LEVELS as readonly string[]).includes(name)) {
      throw new UsageError(`unknown level ${JSON.stringify(name)}: expected one of ${LOG_LEVELS.join(', ')}`);
    }
    await (await ctx.connect()).setLogLevel(name as LogLevel, { timeoutMs: ctx.timeoutMs });
    await write(ctx.io.stdout, ctx.json ? json({ level: name }) : `log level set to ${name}\n`);
  },
};
