// Start-up after a re-exec or a crash: what the previous process left, found either in the memfd named
// by LOGWARDEN_UPGRADE_STATE (re-exec: fd numbers are ours already; read first thing by resume.ts)
// or in what systemd handed back (crash/restart: the listener `rpc`, the `state` record and one
// `log.*` fd per open log).
import { close } from '@logwarden/core/native';
import type { Daemon } from '../daemon.js';
import type { LogState } from '../log-handler.js';
import type { Logger } from '../logger.js';
import { decodeFdName, fdIdHash, readStateRecord, type ListenFd } from '../systemd/index.js';
import { LOG_FD_KIND, STATE_FD_NAME } from './fd-store.js';
import { preciseNow, type Resumed } from './resume.js';
import { decodeState, type CarriedConnection, type CarriedMirror } from './state.js';

export interface Inherited {
  /** Where it came from: an in-place re-exec, systemd's fd store, or nothing (a fresh start). */
  from: 'exec' | 'fd-store' | null;
  listenFd: number | null;
  startedAt: number | null;
  upgrades: number;
  connections: CarriedConnection[];
  logs: LogState[];
  /** True when resume.ts has already taken the logs back (restoreInherited leaves them alone). */
  adopted: boolean;
  mirrors: CarriedMirror[];
  /** How long the pipes went unread across a re-exec (ms), once they are read again; null otherwise. */
  pausedMs: number | null;
}

function closeQuietly(fd: number): void {
  try {
    close(fd);
  } catch {
    // Not ours after all: nothing to release.
  }
}

/**
 * What the previous process left: the re-exec state resume.ts read, else what systemd handed back.
 * `fds` from listenFds(); `defaults` are the settings for a stored pipe the state record does not describe.
 */
export function takeInherited(resumed: Resumed | null, fds: readonly ListenFd[], logger: Logger, defaults: LogState['settings']): Inherited {
  if (resumed === null) return fromFdStore(fds, logger, defaults);
  const { state } = resumed;
  return {
    from: 'exec',
    listenFd: state.listenFd,
    startedAt: state.startedAt,
    upgrades: state.upgrades + 1,
    connections: state.connections,
    logs: state.logs,
    adopted: resumed.handler !== null,
    mirrors: state.mirrors,
    pausedMs: state.pausedAt === null ? null : (resumed.handler === null ? preciseNow() : resumed.resumedAt) - state.pausedAt,
  };
}

function fromFdStore(fds: readonly ListenFd[], logger: Logger, defaults: LogState['settings']): Inherited {
  const rpc = fds.find((f) => f.name === 'rpc');
  const out: Inherited = {
    from: null, listenFd: rpc?.fd ?? null, startedAt: null, upgrades: 0, connections: [], logs: [], adopted: false, mirrors: [], pausedMs: null,
  };
  const stateFd = fds.find((f) => f.name === STATE_FD_NAME);
  const byRel = new Map<string, LogState>();
  const byHash = new Map<string, LogState>();
  if (stateFd !== undefined) {
    try {
      const state = decodeState(readStateRecord(stateFd.fd));
      out.upgrades = state.upgrades;
      // As of the last record rewrite: lines mirrored since then go to journald a second time.
      out.mirrors = state.mirrors;
      for (const log of state.logs) {
        byRel.set(log.rel, log);
        byHash.set(fdIdHash(log.rel), log);
      }
    } catch (err) {
      logger.warn('fd store state record unusable; pipes are matched by name only', { err });
    } finally {
      // systemd keeps its own copy in the store.
      closeQuietly(stateFd.fd);
    }
  }
  const fallback = (rel: string): LogState => ({
    rel, driver: 'restored', domain: null, settings: defaults,
    bytesIn: 0, bytesWritten: 0, bytesDropped: 0, position: { inode: '0', offset: 0 }, readFd: null,
  });
  for (const f of fds) {
    if (f === rpc || f === stateFd) continue;
    const parts = decodeFdName(f.name);
    const known = parts?.kind !== LOG_FD_KIND ? undefined : parts.id !== null ? (byRel.get(parts.id) ?? fallback(parts.id)) : byHash.get(parts.hash);
    if (known === undefined) {
      logger.warn('inherited fd matches no log; closing it', { name: f.name });
      closeQuietly(f.fd);
      continue;
    }
    if (known.readFd !== null) {
      // systemd stored the same log twice (an open raced a crash): one pipe is the log's, the other stale.
      logger.warn('two stored fds for one log; keeping the first', { path: known.rel });
      closeQuietly(f.fd);
      continue;
    }
    known.readFd = f.fd;
    byRel.set(known.rel, known);
  }
  out.logs = [...byRel.values()];
  if (out.logs.some((l) => l.readFd !== null)) out.from = 'fd-store';
  return out;
}

/** Puts the inherited logs, connections and journal mirrors into a started daemon. */
export function restoreInherited(daemon: Daemon, inherited: Inherited): void {
  if (inherited.startedAt !== null) daemon.startedAt = inherited.startedAt;
  daemon.upgrades = inherited.upgrades;
  if (!inherited.adopted) daemon.handler.adoptState(inherited.logs);
  for (const c of inherited.connections) daemon.server.adoptConnection(c.fd, c.replyTo ?? undefined);
  daemon.journal.mirrors.restore(inherited.mirrors);
  if (inherited.from !== null) {
    daemon.logger.info('took over from the previous process', {
      from: inherited.from,
      logs: inherited.logs.filter((l) => l.readFd !== null).length,
      clients: inherited.connections.length,
      upgrades: inherited.upgrades,
      mirrors: inherited.mirrors.length,
      ...(inherited.pausedMs === null ? {} : { pausedMs: Math.round(inherited.pausedMs) }),
    });
  }
}
