// `logwarden append`: add text (or stdin, byte for byte) to a log through the daemon.
import { LIMITS } from '@logwarden/core/protocol';
import type { Command } from './command.js';
import { formatPosition, json, write } from './format.js';

export const append: Command = {
  name: 'append',
  synopsis: '[-n] [--driver NAME] PATH TEXT|-',
  summary: 'append TEXT (plus a newline) or, with -, standard input to a log',
  details: '-n: no newline after TEXT. --driver: the driver name the log is created under (default cli).',
  options: { 'no-newline': { type: 'boolean', short: 'n' }, driver: { type: 'string' } },
  positionals: { min: 2, max: 2 },
  async run(ctx, values, [path = '', text = '']) {
    let data: Buffer;
    if (text === '-') {
      const parts: Buffer[] = [];
      for await (const part of ctx.io.stdin) parts.push(Buffer.isBuffer(part) ? part : Buffer.from(String(part)));
      data = Buffer.concat(parts);
    } else {
      data = Buffer.from(values['no-newline'] === true || text.endsWith('\n') ? text : `${text}\n`);
    }
    const client = await ctx.connect();
    const driver = typeof values.driver === 'string' ? values.driver : 'cli';
    // One call per maxAppendBytes (the protocol bounds a single append); empty input still reports the position.
    let off = 0;
    let position;
    do {
      const piece = data.subarray(off, off + LIMITS.maxAppendBytes);
      position = await client.append({ driver, domain: null, path, data: piece }, { timeoutMs: ctx.timeoutMs });
      off += piece.length;
    } while (off < data.length);
    await write(ctx.io.stdout, ctx.json ? json(position) : `${formatPosition(position)}\n`);
  },
};
