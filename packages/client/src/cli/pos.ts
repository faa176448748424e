// `logwarden pos`: the current end position of a log (what the next byte written will follow).
import type { Command } from './command.js';
import { formatPosition, json, write } from './format.js';

export const pos: Command = {
  name: 'pos',
  synopsis: 'PATH',
  summary: 'print the current end position of a log as INODE:OFFSET',
  options: {},
  positionals: { min: 1, max: 1 },
  async run(ctx, _values, [path = '']) {
    const position = await (await ctx.connect()).getPosition(path, { timeoutMs: ctx.timeoutMs });
    await write(ctx.io.stdout, ctx.json ? json(position) : `${formatPosition(position)}\n`);
  },
};
