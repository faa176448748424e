// `logwarden tail`: the end of a log, and with -f everything written after it until interrupted.
import type { Command } from './command.js';
import { UsageError } from './command.js';
import { formatPosition, humanBytes, json, write } from './format.js';

export const tail: Command = {
  name: 'tail',
  synopsis: '[-f] [-c BYTES] PATH',
  summary: 'print the end of a log; -f keeps following it',
  details: '-c BYTES: how much of the current file to print first (default 4096, 0 = none).\n-f stops on Ctrl-C.',
  options: { follow: { type: 'boolean', short: 'f' }, bytes: { type: 'string', short: 'c' } },
  positionals: { min: 1, max: 1 },
  async run(ctx, values, [path = '']) {
    const bytes = typeof values.bytes === 'string' ? Number(values.bytes) : 4096;
    if (!Number.isSafeInteger(bytes) || bytes < 0) throw new UsageError(`invalid byte count ${String(values.bytes)}`);
    const client = await ctx.connect();
    const opts = { timeoutMs: ctx.timeoutMs, signal: ctx.signal };
    const end = await client.getPosition(path, opts);
    const emit = async (chunk: { data: Uint8Array; position: { inode: string; offset: number }; gap: number }): Promise<void> => {
      if (ctx.json) {
        await write(ctx.io.stdout, json(chunk));
        return;
      }
      if (chunk.gap > 0) {
        await write(ctx.io.stderr, `logwarden: ${humanBytes(chunk.gap)} rotated away before ${formatPosition(chunk.position)}\n`);
      }
      if (chunk.data.length > 0) await write(ctx.io.stdout, chunk.data);
    };
    let position = end;
    if (bytes > 0 && end.offset > 0) {
      const start = { inode: end.inode, offset: Math.max(0, end.offset - bytes) };
      for await (const chunk of client.readAll(path, start, opts)) {
        // Only up to where we looked: -f picks up from there without repeating or skipping a byte.
        if (chunk.position.inode === end.inode && chunk.position.offset > end.offset) {
          const keep = chunk.data.length - (chunk.position.offset - end.offset);
          await emit({ ...chunk, data: chunk.data.subarray(0, Math.max(0, keep)), position: end });
          break;
        }
        await emit(chunk);
        position = chunk.position;
        if (position.inode === end.inode && position.offset === end.offset) break;
      }
      position = end;
    }
    if (values.follow !== true) return;
    try {
      for await (const ev of client.follow(path, position, { signal: ctx.signal })) await emit(ev);
    } catch (err) {
      // Ctrl-C is how tail -f ends.
      if (ctx.signal.aborted) return;
      throw err;
    }
  },
};
