#!/usr/bin/env node
// logwardend's lifecycle: arguments, configuration, start, signals, stop. Runs in the foreground
// under any supervisor. Exit codes: 0 clean stop, 1 runtime failure, 2 bad command line or config.
import { fstatSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { isLwError, LwError } from '@logwarden/core/protocol';
import { loadConfig, type ConfigFlags } from './config.js';
import { Daemon } from './daemon.js';
import { daemonLogOutput } from './journal/index.js';
import { Logger } from './logger.js';
import { listenFds, Notifier } from './systemd/index.js';
import { installUpgrade, restoreInherited, takeInherited, type Inherited } from './upgrade/index.js';

const USAGE = `Usage: logwardend [options]

Holds guest log pipes, writes them to size-capped rotating files and serves them over RPC.

Options:
  -c, --config FILE      TOML configuration (default: none, built-in settings)
  -s, --state-dir DIR    state directory: socket in DIR/run, logs in DIR/log (default: ./var)
  -t, --timeout SECONDS  exit after SECONDS with no open log and no client
  -v, --verbose          log debug messages
  -V, --version          print the version and exit
  -h, --help             print this help and exit

Signals: SIGTERM/SIGINT stop cleanly, SIGHUP reloads the configuration, SIGUSR1 re-execs in place.
`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function parseFlags(argv: string[]): ConfigFlags | 'help' | 'version' {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      config: { type: 'string', short: 'c' },
      'state-dir': { type: 'string', short: 's' },
      timeout: { type: 'string', short: 't' },
      verbose: { type: 'boolean', short: 'v' },
      version: { type: 'boolean', short: 'V' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true) return 'help';
  if (values.version === true) return 'version';
  if (positionals.length > 0) throw usageError(`unexpected argument '${positionals[0] ?? ''}'`);
  const flags: ConfigFlags = {};
  if (values.config !== undefined) flags.configPath = values.config;
  if (values['state-dir'] !== undefined) flags.stateDir = values['state-dir'];
  if (values.timeout !== undefined) {
    if (!/^\d+$/.test(values.timeout)) throw usageError(`--timeout wants whole seconds, not '${values.timeout}'`);
    flags.timeoutSec = Number(values.timeout);
  }
  if (values.verbose === true) flags.verbose = true;
  return flags;
}

function usageError(message: string): LwError {
  return new LwError('LW_ERR_CLI_USAGE', message);
}

// journald's stdout transport sets JOURNAL_STREAM to the dev:ino of the stream it gave us.
function stderrIsJournal(): boolean {
  const stream = process.env.JOURNAL_STREAM;
  if (stream === undefined) return false;
  const st = fstatSync(2, { bigint: true });
  return stream === `${st.dev}:${st.ino}`;
}

async function main(): Promise<number> {
  let flags: ConfigFlags | 'help' | 'version';
  try {
    flags = parseFlags(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`logwardend: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (flags === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (flags === 'version') {
    process.stdout.write(`logwardend ${version()}\n`);
    return 0;
  }

  // Under systemd, natively to journald (PRIORITY per message); else stderr (journal/log-output.ts).
  const logger = new Logger(daemonLogOutput({ stderrIsJournal: stderrIsJournal() }));
  let daemon: Daemon;
  let inherited: Inherited;
  try {
    const config = loadConfig(flags);
    logger.setLevel(config.logLevel);
    // A re-exec'd daemon's state memfd, or systemd's listener `rpc` and fd store (upgrade/inherit.ts).
    inherited = takeInherited(listenFds(), logger, {
      maxSize: config.maxSize,
      maxBackups: config.maxBackups,
      firstBackupIndex: config.backupNaming === 'logrotate' ? 1 : 0,
    });
    const listenFd = inherited.listenFd;
    daemon = await Daemon.start(config, { flags, logger, version: version(), ...(listenFd === null ? {} : { listenFd }) });
    restoreInherited(daemon, inherited);
  } catch (err) {
    if (isLwError(err) && err.code === 'LW_ERR_CONFIG_INVALID') {
      logger.error(`${err.code}: ${err.message}`);
      return 2;
    }
    logger.error('cannot start', { err });
    return 1;
  }

  const notifier = Notifier.fromEnv();
  const upgrade = installUpgrade(daemon, logger, notifier, inherited);
  const notifyFailed = (err: unknown): void => {
    logger.warn('sd_notify failed', { err });
  };
  const stopped = new Promise<void>((resolve) => {
    const stop = (reason: string): void => {
      logger.info('stopping', { reason });
      notifier?.stopping().catch(notifyFailed);
      void upgrade.beforeStop().then(() => daemon.stop()).then(resolve);
    };
    process.once('SIGTERM', () => { stop('SIGTERM'); });
    process.once('SIGINT', () => { stop('SIGINT'); });
    daemon.onIdle(() => { stop('idle timeout'); });
  });
  process.on('SIGHUP', () => {
    notifier?.reloading().catch(notifyFailed);
    // A failed reload was logged and changed nothing: the daemon is ready either way.
    daemon.reload().catch(() => undefined).finally(() => notifier?.ready().catch(notifyFailed));
  });
  // In-place upgrade: re-exec keeping pipes and clients; a failure was logged and the daemon runs on.
  process.on('SIGUSR1', () => {
    daemon.upgrade().catch(() => undefined);
  });
  notifier?.ready().catch(notifyFailed);
  notifier?.startWatchdog(notifyFailed);
  await stopped;
  notifier?.close();
  return 0;
}

process.exitCode = await main();
