// `logwarden ls`: the logs the daemon knows.
import type { Command } from './command.js';
import { json, logTable, write } from './format.js';

export const ls: Command = {
  name: 'ls',
  synopsis: '',
  summary: 'list logs',
  options: {},
  positionals: { min: 0, max: 0 },
  async run(ctx) {
    const logs = await (await ctx.connect()).list({ timeoutMs: ctx.timeoutMs });
    if (ctx.json) await write(ctx.io.stdout, json(logs));
    else if (logs.length === 0) await write(ctx.io.stdout, 'no logs\n');
    else await write(ctx.io.stdout, logTable(logs));
  },
};
