// The first steps of a daemon that takes over from a previous process, before anything else is
// loaded (main.ts imports only this): read what that process left and take its logs back, so the
// guests' pipes are read again right after Node's own start-up. The configuration, the RPC server
// and the journal load afterwards (lifecycle.ts), while the pipes are already being drained. This
// module's imports are the whole cost of that window: the native layer, the rotating file and the
// error registry, never the RPC protocol (msgpack) or the configuration parser (a re-exec: 201-209 ms
// median stall when the whole daemon loaded first, 113-131 ms this way, A/B on one loaded machine).
//
// After a re-exec the state is in the memfd named by LOGWARDEN_UPGRADE_STATE. After a crash or a
// restart under systemd it is the fd store's `state` record; its logs are taken back here only when
// the record names the log root and the default settings (a record from an older daemon does not:
// lifecycle.ts then does it all after reading the configuration).
import { LwError } from '@logwarden/core/errors';
import { close } from '@logwarden/core/native';
import { LogHandler } from '../log-handler.js';
import { LogRoot } from '../log-root.js';
import { Logger } from '../logger.js';
import { listenFds } from '../systemd/listen-fds.js';
import { readStateRecord } from '../systemd/state-record.js';
import { ExecHeadroom } from './exec-headroom.js';
import type { Inherited } from './inherit.js';
import { decodeState, preciseNow, UPGRADE_STATE_ENV, type DaemonState } from './state.js';

export interface Resumed {
  inherited: Inherited;
  /** Holds its messages until the configuration says where they go (Logger.held()). */
  logger: Logger;
  /**
   * The logs taken back and being read, or null when the state does not name its log root (a
   * previous daemon that did not send it): the logs are then adopted once the configuration is read.
   */
  handler: LogHandler | null;
  /** After a re-exec: the pipes the previous process widened for it, being shrunk back (exec-headroom.ts). */
  headroom: ExecHeadroom | null;
}

type Env = Record<string, string | undefined>;

/** Takes over what a previous process left (removing the variables that say where); null on a plain start. */
export async function resume(env: Env = process.env): Promise<Resumed | null> {
  // Node's start-up and loading this module: most of a re-exec's pause (logged below).
  const startMs = performance.now();
  const stateText = env.LOGWARDEN_UPGRADE_STATE;
  // Never handed to a child, nor to the image after the next re-exec (which sets its own).
  delete env.LOGWARDEN_UPGRADE_STATE;
  if (stateText !== undefined) return fromExec(readExecState(stateText), startMs);
  return env.LISTEN_FDS === undefined ? null : fromFdStore(env);
}

function fromExec(state: DaemonState, startMs: number): Resumed {
  const inherited: Inherited = {
    from: 'exec',
    listenFd: state.listenFd,
    startedAt: state.startedAt,
    upgrades: state.upgrades + 1,
    connections: state.connections,
    logs: state.logs,
    logRoot: state.logRoot,
    mirrors: state.mirrors,
    pausedAt: state.pausedAt,
    adoptedAt: null,
  };
  const resumed = adopt(inherited);
  resumed.headroom = ExecHeadroom.resumed(state.widened ?? [], state.logs, resumed.logger);
  if (state.pausedAt !== null && inherited.adoptedAt !== null) {
    // Where the pause went: the old image's last steps and the kernel's exec; Node's start-up.
    const ms = (x: number): number => Math.round(x * 10) / 10;
    resumed.logger.debug('resumed after a re-exec', {
      execMs: ms(performance.timeOrigin - state.pausedAt),
      startMs: ms(startMs),
      adoptMs: ms(inherited.adoptedAt - performance.timeOrigin - startMs),
    });
  }
  return resumed;
}

async function fromFdStore(env: Env): Promise<Resumed | null> {
  // A look first, on a copy of the variables: without a usable record lifecycle.ts takes it all.
  const { peekStateRecord, fromFdStore: match } = await import('./inherit.js');
  const { state } = peekStateRecord(listenFds({ LISTEN_PID: env.LISTEN_PID, LISTEN_FDS: env.LISTEN_FDS, LISTEN_FDNAMES: env.LISTEN_FDNAMES }));
  if (state?.logRoot == null || state.defaults === null) return null;
  const logger = Logger.held();
  return adopt(match(listenFds(env), logger, state.defaults), logger);
}

function adopt(inherited: Inherited, logger = Logger.held()): Resumed {
  if (inherited.logRoot === null) return { inherited, logger, handler: null, headroom: null };
  const handler = new LogHandler({
    root: new LogRoot(inherited.logRoot),
    logger,
    // openLog, the only reader, comes over RPC, which is served only after the Daemon set the real source.
    settings: () => {
      throw new LwError('LW_ERR_INTERNAL', 'log settings read before the configuration was loaded');
    },
  });
  handler.adoptState(inherited.logs);
  inherited.adoptedAt = preciseNow();
  return { inherited, logger, handler, headroom: null };
}

function readExecState(stateText: string): DaemonState {
  if (!/^\d{1,9}$/.test(stateText)) {
    throw new LwError('LW_ERR_SYSTEMD_ENV_INVALID', `${UPGRADE_STATE_ENV}=${stateText} is not an fd number`);
  }
  const fd = Number(stateText);
  try {
    return decodeState(readStateRecord(fd));
  } finally {
    try {
      close(fd);
    } catch {
      // Not an open fd: readStateRecord has said so already.
    }
  }
}
