// `logwarden rm`: remove a log and its backups.
import type { Command } from './command.js';
import { json, write } from './format.js';

export const rm: Command = {
  name: 'rm',
  synopsis: 'PATH',
  summary: 'remove a log and its backups',
  options: {},
  positionals: { min: 1, max: 1 },
  async run(ctx, _values, [path = '']) {
    const removed = await (await ctx.connect()).removeLog(path, { timeoutMs: ctx.timeoutMs });
    await write(ctx.io.stdout, ctx.json ? json({ removed }) : `removed ${removed} file${removed === 1 ? '' : 's'}\n`);
  },
};
