// `logwarden cat`: a log's bytes from a position (default: the oldest byte still kept) to its end.
import { POSITION_START } from '@logwarden/core/protocol';
import type { Command } from './command.js';
import { formatPosition, humanBytes, json, parsePosition, write } from './format.js';

export const cat: Command = {
  name: 'cat',
  synopsis: '[--from INODE:OFFSET] PATH',
  summary: 'print a log from a position to its current end',
  details:
    'Bytes are written as they are (binary-safe). Data rotated away before --from is reported on stderr.\n' +
    'With --json, one line per chunk: {"data": base64, "position", "gap"}; the last position is where to resume.',
  options: { from: { type: 'string' } },
  positionals: { min: 1, max: 1 },
  async run(ctx, values, [path]) {
    const from = typeof values.from === 'string' ? parsePosition(values.from) : POSITION_START;
    const client = await ctx.connect();
    for await (const chunk of client.readAll(path ?? '', from, { timeoutMs: ctx.timeoutMs, signal: ctx.signal })) {
      if (ctx.json) {
        await write(ctx.io.stdout, json(chunk));
        continue;
      }
      if (chunk.gap > 0) {
        await write(ctx.io.stderr, `logwarden: ${humanBytes(chunk.gap)} rotated away before ${formatPosition(chunk.position)}\n`);
      }
      if (chunk.data.length > 0) await write(ctx.io.stdout, chunk.data);
    }
  },
};
