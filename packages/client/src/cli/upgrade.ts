// `logwarden upgrade`: ask the daemon to re-exec itself in place, keeping every pipe and client.
import type { Command } from './command.js';
import { json, write } from './format.js';

export const upgrade: Command = {
  name: 'upgrade',
  synopsis: '',
  summary: 're-exec the daemon in place (keeps pipes, consoles and clients)',
  options: {},
  positionals: { min: 0, max: 0 },
  async run(ctx) {
    await (await ctx.connect()).upgrade({ timeoutMs: ctx.timeoutMs });
    await write(ctx.io.stdout, ctx.json ? json({ upgraded: true }) : 'upgrade requested\n');
  },
};
