// The first steps of a re-exec'd daemon, before anything else is loaded (main.ts imports only
// this): read the state the previous process left and take its logs back, so the guests' pipes are
// read again right after Node's own start-up. The configuration, the RPC server and the journal
// load afterwards (lifecycle.ts), while the pipes are already being drained. This module's imports
// are the whole cost of that window: the native layer, the rotating file and the error registry,
// never the RPC protocol (msgpack) or the configuration parser (docs/benchmarks.md, upgrade).
import { LwError } from '@logwarden/core/errors';
import { close } from '@logwarden/core/native';
import { LogHandler } from '../log-handler.js';
import { LogRoot } from '../log-root.js';
import { Logger } from '../logger.js';
import { readStateRecord } from '../systemd/state-record.js';
import { decodeState, UPGRADE_STATE_ENV, type DaemonState } from './state.js';

export interface Resumed {
  state: DaemonState;
  /** Holds its messages until the configuration says where they go (Logger.held()). */
  logger: Logger;
  /**
   * The logs taken back and being read, or null when the state does not name its log root (a
   * previous daemon that did not send it): the logs are then adopted once the configuration is read.
   */
  handler: LogHandler | null;
  /** Epoch ms when the pipes were read again (with the state's pausedAt: how long they waited). */
  resumedAt: number;
}

/** Epoch milliseconds with a fraction, comparable between the two images of one re-exec. */
export function preciseNow(): number {
  return performance.timeOrigin + performance.now();
}

/** Reads the state named by LOGWARDEN_UPGRADE_STATE (removing the variable) and adopts its logs; null on a plain start. */
export function resumeAfterExec(env: { LOGWARDEN_UPGRADE_STATE?: string | undefined } = process.env): Resumed | null {
  const stateText = env.LOGWARDEN_UPGRADE_STATE;
  // Never handed to a child, nor to the image after the next re-exec (which sets its own).
  delete env.LOGWARDEN_UPGRADE_STATE;
  if (stateText === undefined) return null;
  const state = readExecState(stateText);
  const logger = Logger.held();
  if (state.logRoot === null) return { state, logger, handler: null, resumedAt: preciseNow() };
  const handler = new LogHandler({
    root: new LogRoot(state.logRoot),
    logger,
    // openLog, the only reader, comes over RPC, which is served only after the Daemon set the real source.
    settings: () => {
      throw new LwError('LW_ERR_INTERNAL', 'log settings read before the configuration was loaded');
    },
  });
  handler.adoptState(state.logs);
  return { state, logger, handler, resumedAt: preciseNow() };
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
