// `logwarden status`: what the daemon says about itself and its logs.
import type { Command } from './command.js';
import { json, logTable, humanDuration, table, write } from './format.js';

export const status: Command = {
  name: 'status',
  synopsis: '',
  summary: 'daemon uptime, upgrades and logs',
  options: {},
  positionals: { min: 0, max: 0 },
  async run(ctx) {
    const client = await ctx.connect();
    const stats = await client.stats(undefined, { timeoutMs: ctx.timeoutMs });
    if (ctx.json) {
      await write(ctx.io.stdout, json({ server: client.server, ...stats }));
      return;
    }
    const open = stats.logs.filter((l) => l.open).length;
    await write(
      ctx.io.stdout,
      table(
        ['SERVER', `${client.server.server} (protocol ${client.server.version})`],
        [
          ['uptime', humanDuration(stats.uptimeMs)],
          ['upgrades', String(stats.upgrades)],
          ['logs', `${stats.logs.length} (${open} open)`],
        ],
      ),
    );
    if (stats.logs.length > 0) await write(ctx.io.stdout, `\n${logTable(stats.logs)}`);
  },
};
