// logwardend's lifecycle once main.ts has caught the signals (and, after a re-exec, taken the pipes
// back): arguments, configuration, start, signals, stop. Exit codes: 0 clean stop, 1 runtime
// failure, 2 bad command line or configuration.
import { fstatSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { isLwError, LwError } from '@logwarden/core/protocol';
import { loadConfig, type ConfigFlags, type DaemonConfig } from './config.js';
import { Daemon } from './daemon.js';
import { daemonLogOutput } from './journal/index.js';
import { Logger } from './logger.js';
import { listenFds, Notifier } from './systemd/index.js';
import { checkUpgrade, fromFdStore, installUpgrade, restoreInherited, type Inherited, type Resumed } from './upgrade/index.js';
import { ExecHeadroom } from './upgrade/exec-headroom.js';

const USAGE = `Usage: logwardend [options]

Holds guest log pipes, writes them to size-capped rotating files and serves them over RPC.

Options:
  -c, --config FILE      TOML configuration (default: none, built-in settings)
  -s, --state-dir DIR    state directory: socket in DIR/run, logs in DIR/log (default: ./var)
  -t, --timeout SECONDS  exit after SECONDS with no open log and no client
  -v, --verbose          log debug messages
  -V, --version          print the version and exit
  -h, --help             print this help and exit
      --check-upgrade    check that this image could take over from a running daemon (the state
                         record on stdin, the configuration), then exit: 0 if it could, else 1

Signals: SIGTERM/SIGINT stop cleanly, SIGHUP reloads the configuration, SIGUSR1 re-execs in place.
`;

/** The signals main.ts catches from its first statement on. */
export const CONTROL_SIGNALS = ['SIGUSR1', 'SIGHUP', 'SIGTERM', 'SIGINT'] as const;
export type ControlSignal = (typeof CONTROL_SIGNALS)[number];

/** What main.ts did before loading this module. */
export interface EarlyStart {
  /** Control signals that arrived before run() installed its handlers, in order. */
  signals: ControlSignal[];
  /** main.ts's listener for them; removed once the real ones are in place. */
  trap: (signal: NodeJS.Signals) => void;
  /** After a re-exec or a crash: what was left and the logs already taken back, or why that failed. */
  resumed: Resumed | Error | null;
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

interface CheckUpgrade {
  checkUpgrade: ConfigFlags;
}

function parseFlags(argv: string[]): ConfigFlags | CheckUpgrade | 'help' | 'version' {
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
      'check-upgrade': { type: 'boolean' },
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
  return values['check-upgrade'] === true ? { checkUpgrade: flags } : flags;
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

/**
 * Node answers SIGUSR1 by opening its inspector on 127.0.0.1:9229, and it does so from its own
 * start-up until main.ts's first statement: a SIGUSR1 in that window (a second upgrade request
 * during a re-exec) leaves a debugger port open. Closed here unless asked for with --inspect; run
 * as soon as this module is loaded and again once the daemon serves (Node opens it asynchronously).
 */
async function closeStrayInspector(logger: Logger): Promise<void> {
  const flags = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
  // The flags that open it (not --inspect-port or --inspect-publish-uid, which only configure it).
  if (flags.some((f) => /^--inspect(-brk|-wait)?(=|$)/.test(f))) return;
  const inspector = await import('node:inspector');
  if (inspector.url() === undefined) return;
  inspector.close();
  logger.warn("closed Node's inspector, which a SIGUSR1 during start-up had opened");
}

export async function run(early: EarlyStart): Promise<number> {
  const held = early.resumed instanceof Error || early.resumed === null ? null : early.resumed.logger;
  if (held !== null) await closeStrayInspector(held);
  let flags: ConfigFlags | CheckUpgrade | 'help' | 'version';
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
  if ('checkUpgrade' in flags) {
    try {
      process.stdout.write(`logwardend ${version()}: upgrade check passed: ${checkUpgrade(flags.checkUpgrade)}\n`);
      return 0;
    } catch (err) {
      process.stderr.write(`logwardend: upgrade check failed: ${isLwError(err) ? `${err.code}: ` : ''}${(err as Error).message}\n`);
      return 1;
    }
  }

  // Under systemd, natively to journald (PRIORITY per message); else stderr (journal/log-output.ts).
  const output = daemonLogOutput({ stderrIsJournal: stderrIsJournal() });
  const resumed = early.resumed instanceof Error ? null : early.resumed;
  // After a re-exec the logger already holds what taking the logs back said.
  const logger = resumed?.logger ?? new Logger(output);
  if (early.resumed instanceof Error) {
    logger.error('cannot take over from the previous process', { err: early.resumed });
    return 1;
  }
  let config: DaemonConfig;
  try {
    config = loadConfig(flags);
  } catch (err) {
    logger.setLevel('info');
    logger.setOutput(output);
    if (isLwError(err) && err.code === 'LW_ERR_CONFIG_INVALID') {
      logger.error(`${err.code}: ${err.message}`);
      return 2;
    }
    logger.error('cannot start', { err });
    return 1;
  }
  logger.setLevel(config.logLevel);
  logger.setOutput(output);

  let daemon: Daemon;
  let inherited: Inherited;
  try {
    const carriedRoot = resumed?.handler == null ? null : resumed.inherited.logRoot;
    if (carriedRoot !== null && carriedRoot !== config.logRoot) {
      // The open logs' names are relative to the root they were opened under.
      logger.warn('log_root changed: the logs stay where they are until the daemon is restarted', { logRoot: carriedRoot });
      config = { ...config, logRoot: carriedRoot };
    }
    // What main.ts took over, else systemd's listener `rpc` and fd store (upgrade/inherit.ts).
    inherited = resumed?.inherited ?? fromFdStore(listenFds(), logger, {
      maxSize: config.maxSize,
      maxBackups: config.maxBackups,
      firstBackupIndex: config.backupNaming === 'logrotate' ? 1 : 0,
    });
    const { listenFd } = inherited;
    daemon = await Daemon.start(config, {
      flags,
      logger,
      version: version(),
      ...(listenFd === null ? {} : { listenFd }),
      ...(resumed?.handler == null ? {} : { handler: resumed.handler }),
    });
    restoreInherited(daemon, inherited);
  } catch (err) {
    logger.error('cannot start', { err });
    return 1;
  }

  const notifier = Notifier.fromEnv();
  const headroom = resumed?.headroom ?? (inherited.from === 'fd-store' ? ExecHeadroom.afterCrash(inherited.logs, config.pipeSize, logger) : null);
  const upgrade = installUpgrade(daemon, logger, notifier, inherited, headroom);
  const notifyFailed = (err: unknown): void => {
    logger.warn('sd_notify failed', { err });
  };
  let stop: (reason: string) => void = () => undefined;
  const stopped = new Promise<void>((resolve) => {
    let stopping = false;
    stop = (reason) => {
      if (stopping) return;
      stopping = true;
      logger.info('stopping', { reason });
      notifier?.stopping().catch(notifyFailed);
      void upgrade.beforeStop().then(() => daemon.stop()).then(resolve);
    };
    daemon.onIdle(() => {
      stop('idle timeout');
    });
  });
  const handlers: Record<ControlSignal, () => void> = {
    SIGTERM: () => {
      stop('SIGTERM');
    },
    SIGINT: () => {
      stop('SIGINT');
    },
    SIGHUP: () => {
      notifier?.reloading().catch(notifyFailed);
      // A failed reload was logged and changed nothing: the daemon is ready either way.
      daemon.reload().catch(() => undefined).finally(() => notifier?.ready().catch(notifyFailed));
    },
    // In-place upgrade: re-exec keeping pipes and clients; a failure was logged and the daemon runs on.
    SIGUSR1: () => {
      daemon.upgrade().catch((err: unknown) => {
        if (isLwError(err) && err.code === 'LW_ERR_UPGRADE_IN_PROGRESS') logger.info('SIGUSR1 during an upgrade: folded into it');
      });
    },
  };
  // The real handlers go in before main.ts's listener goes out: a signal with no listener at all
  // gets Node's default (the end of the process, or the inspector).
  for (const signal of CONTROL_SIGNALS) process.on(signal, handlers[signal]);
  for (const signal of CONTROL_SIGNALS) process.removeListener(signal, early.trap);
  for (const signal of early.signals) {
    if (signal === 'SIGUSR1') logger.info('SIGUSR1 during start-up: folded into it (this process runs the newest code already)');
    else handlers[signal]();
  }
  notifier?.ready().catch(notifyFailed);
  notifier?.startWatchdog(notifyFailed);
  await closeStrayInspector(logger);
  await stopped;
  notifier?.close();
  return 0;
}
