// Shared by the journal tests: an in-process Daemon with a config file, and JSON-lines log readers.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { parseJsonEntry, type JournalField } from '@logwarden/core/journal';
import { loadConfig } from '../../src/config.js';
import { Daemon } from '../../src/daemon.js';
import { Logger } from '../../src/logger.js';
import { tempDir } from '../helpers.js';

export interface JournalSetup {
  daemon: Daemon;
  dir: string;
  stateDir: string;
  logRoot: string;
  /** The daemon's own messages. */
  lines: string[];
}

/** A real Daemon (RPC socket, log handler, journal side) in a temp dir, configured by `toml`. */
export async function startDaemon(t: ExecutionContext, toml: string, dir = tempDir(t, 'lw-journal-')): Promise<JournalSetup> {
  const configPath = join(dir, 'logwardend.toml');
  writeFileSync(configPath, toml);
  const flags = { configPath, stateDir: join(dir, 'state') };
  const config = loadConfig(flags);
  const lines: string[] = [];
  const logger = new Logger({ level: 'debug', write: (l) => lines.push(l) });
  const daemon = await Daemon.start(config, { flags, logger, version: 'test' });
  t.teardown(() => daemon.stop());
  return { daemon, dir, stateDir: config.stateDir, logRoot: config.logRoot, lines };
}

/** Every entry of one identifier's JSON-lines chain, oldest file first (backups `.N` oldest = highest N). */
export function readJsonChain(dir: string, name: string): JournalField[][] {
  if (!existsSync(dir)) return [];
  const backups = readdirSync(dir)
    .filter((f) => f.startsWith(`${name}.`) && /^\d+$/.test(f.slice(name.length + 1)))
    .sort((a, b) => Number(b.slice(name.length + 1)) - Number(a.slice(name.length + 1)));
  const files = [...backups, ...(existsSync(join(dir, name)) ? [name] : [])];
  const out: JournalField[][] = [];
  for (const f of files) {
    const text = readFileSync(join(dir, f));
    let start = 0;
    for (;;) {
      const nl = text.indexOf(0x0a, start);
      if (nl === -1) break;
      out.push(parseJsonEntry(text.subarray(start, nl)).fields);
      start = nl + 1;
    }
    if (start !== text.length) throw new Error(`${f} ends with a cut line`);
  }
  return out;
}

export function text(fields: readonly JournalField[], name: string): string | undefined {
  return fields.find((f) => f.name === name)?.value.toString('utf8');
}
