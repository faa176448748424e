// The `logwarden` command line: global options, command lookup, help, errors and exit statuses.
// Exit status: 0 ok, 1 error (printed as "logwarden: LW_ERR_...: message"), 2 usage.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { LwError, PROTOCOL_VERSION } from '@logwarden/core/protocol';
import { connect, type LogwardenClient } from '../client.js';
import { defaultSocketPath } from '../socket-path.js';
import { append } from './append.js';
import { cat } from './cat.js';
import { UsageError, type CliContext, type CliIo, type Command, type OptionsConfig, type OptionValues } from './command.js';
import { level } from './level.js';
import { ls } from './ls.js';
import { pos } from './pos.js';
import { rm } from './rm.js';
import { status } from './status.js';
import { tail } from './tail.js';
import { upgrade } from './upgrade.js';

export const COMMANDS: readonly Command[] = [ls, cat, tail, pos, append, rm, status, level, upgrade];

const GLOBAL_OPTIONS: OptionsConfig = {
  socket: { type: 'string' },
  json: { type: 'boolean' },
  timeout: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'V' },
};

const GLOBAL_HELP = `Global options:
  --socket PATH   daemon socket (default: $LOGWARDEN_SOCKET, else ./var/run/logwardend.sock)
  --json          machine-readable output (one JSON document or JSON lines)
  --timeout MS    timeout of each call to the daemon (default 30000, 0 = none)
  -h, --help      help (also after a command)
  -V, --version   print the client and protocol versions
Exit status: 0 ok, 1 error, 2 usage.
`;

function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => `${c.name} ${c.synopsis}`.length));
  const lines = COMMANDS.map((c) => `  ${`${c.name} ${c.synopsis}`.padEnd(width)}  ${c.summary}`);
  return `Usage: logwarden [GLOBAL OPTIONS] COMMAND [ARGS]\n\nCommands:\n${lines.join('\n')}\n\n${GLOBAL_HELP}`;
}

function commandUsage(c: Command): string {
  return `Usage: logwarden ${c.name} ${c.synopsis}`.trimEnd() + `\n\n${c.summary}\n${c.details === undefined ? '' : `\n${c.details}\n`}\n${GLOBAL_HELP}`;
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return `logwarden ${pkg.version} (protocol ${PROTOCOL_VERSION})\n`;
}

/** Index of the command word: the first argument that is neither a global option nor its value. */
function findCommand(argv: readonly string[]): number {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    if (a === '--socket' || a === '--timeout') i++;
    else if (!a.startsWith('-') || a === '-') return i;
  }
  return -1;
}

function isParseArgsError(err: unknown): err is Error {
  return err instanceof Error && 'code' in err && typeof err.code === 'string' && err.code.startsWith('ERR_PARSE_ARGS');
}

export interface RunOptions {
  /** Stops long-running commands (tail -f); the bin aborts it on SIGINT/SIGTERM. */
  signal?: AbortSignal;
}

/** Runs one command line; resolves with the exit status. Never throws. */
export async function run(argv: readonly string[], io: CliIo, opts: RunOptions = {}): Promise<number> {
  let client: LogwardenClient | null = null;
  let command: Command | undefined;
  try {
    const at = findCommand(argv);
    const name = at < 0 ? undefined : argv[at];
    command = COMMANDS.find((c) => c.name === name);
    if (at >= 0 && command === undefined) throw new UsageError(`unknown command ${JSON.stringify(name)}`);
    const rest = at < 0 ? [...argv] : [...argv.slice(0, at), ...argv.slice(at + 1)];
    const parsed = parseArgs({ args: rest, options: { ...GLOBAL_OPTIONS, ...command?.options }, allowPositionals: true, strict: true });
    const values: OptionValues = parsed.values;
    const positionals = parsed.positionals;
    if (values.version === true && command === undefined) {
      io.stdout.write(version());
      return 0;
    }
    if (values.help === true) {
      io.stdout.write(command === undefined ? usage() : commandUsage(command));
      return 0;
    }
    if (command === undefined) throw new UsageError('no command given');
    const { min, max } = command.positionals;
    if (positionals.length < min || positionals.length > max) {
      throw new UsageError(`${command.name} takes ${min === max ? min : `${min} to ${max}`} argument${max === 1 ? '' : 's'}, got ${positionals.length}`);
    }
    const timeoutMs = typeof values.timeout === 'string' ? Number(values.timeout) : 30_000;
    if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 0) throw new UsageError(`invalid --timeout ${String(values.timeout)}`);
    const socket = typeof values.socket === 'string' ? values.socket : defaultSocketPath(io.env);
    const signal = opts.signal ?? new AbortController().signal;
    const ctx: CliContext = {
      io,
      json: values.json === true,
      socket,
      timeoutMs,
      signal,
      connect: async () => {
        client ??= await connect(socket, { timeoutMs: timeoutMs === 0 ? 30_000 : timeoutMs, callTimeoutMs: timeoutMs, clientName: 'logwarden-cli', signal });
        return client;
      },
    };
    await command.run(ctx, values, positionals);
    return 0;
  } catch (err) {
    if (err instanceof UsageError || isParseArgsError(err)) {
      io.stderr.write(`logwarden: LW_ERR_CLI_USAGE: ${err.message}\n\n${command === undefined ? usage() : commandUsage(command)}`);
      return 2;
    }
    if (err instanceof LwError) {
      io.stderr.write(`logwarden: ${err.code}: ${err.message}\n`);
      return 1;
    }
    io.stderr.write(`logwarden: LW_ERR_INTERNAL: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  } finally {
    (client as LogwardenClient | null)?.close();
  }
}
