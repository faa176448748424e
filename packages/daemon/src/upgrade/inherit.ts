// Start-up after a re-exec or a crash: what the previous process left, found either in the memfd named
// by LOGWARDEN_UPGRADE_STATE (re-exec: fd numbers are ours already) or in what systemd handed back
// (crash/restart: the listener `rpc`, the `state` record, and a `log.*` and a `stage.*` fd per open log). The
// re-exec state is read by resume.ts; the fd store's too when its record names the log root.
import { close, pipe } from '@logwarden/core/native';
import type { Daemon } from '../daemon.js';
import type { LogState } from '../log-handler.js';
import type { Logger } from '../logger.js';
import { decodeFdName, fdIdHash } from '../systemd/fd-names.js';
import type { ListenFd } from '../systemd/listen-fds.js';
import { readStateRecord } from '../systemd/state-record.js';
import { decodeState, LOG_FD_KIND, STAGE_FD_KIND, preciseNow, STATE_FD_NAME, type CarriedConnection, type CarriedMirror, type DaemonState } from './state.js';

export interface Inherited {
  /** Where it came from: an in-place re-exec, systemd's fd store, or nothing (a fresh start). */
  from: 'exec' | 'fd-store' | null;
  listenFd: number | null;
  startedAt: number | null;
  upgrades: number;
  connections: CarriedConnection[];
  logs: LogState[];
  /** The log root the previous process used (configured spelling), when it said. */
  logRoot: string | null;
  mirrors: CarriedMirror[];
  /** When the previous process stopped reading the pipes (a re-exec; epoch ms), else null. */
  pausedAt: number | null;
  /** When the logs were taken back (epoch ms); null until then. */
  adoptedAt: number | null;
}

function closeQuietly(fd: number): void {
  try {
    close(fd);
  } catch {
    // Not ours after all: nothing to release.
  }
}

/** A pipe already at EOF: stands in for a guest pipe that was not stored (see fromFdStore). */
function emptyClosedPipe(): number {
  const p = pipe();
  close(p.writeFd);
  return p.readFd;
}

/** The fd store's `state` record among `fds`, or null when there is none or it is unusable (`why`). */
export function peekStateRecord(fds: readonly ListenFd[]): { state: DaemonState | null; why: unknown } {
  const stateFd = fds.find((f) => f.name === STATE_FD_NAME);
  if (stateFd === undefined) return { state: null, why: null };
  try {
    return { state: decodeState(readStateRecord(stateFd.fd)), why: null };
  } catch (err) {
    return { state: null, why: err };
  }
}

/**
 * What systemd handed back (`fds` from listenFds()), matched to logs by the state record.
 * `defaults` are the settings for a stored pipe the record does not describe.
 */
export function fromFdStore(fds: readonly ListenFd[], logger: Logger, defaults: LogState['settings']): Inherited {
  const rpc = fds.find((f) => f.name === 'rpc');
  const out: Inherited = {
    from: null, listenFd: rpc?.fd ?? null, startedAt: null, upgrades: 0, connections: [], logs: [], logRoot: null, mirrors: [],
    pausedAt: null, adoptedAt: null,
  };
  const stateFd = fds.find((f) => f.name === STATE_FD_NAME);
  const byRel = new Map<string, LogState>();
  const byHash = new Map<string, LogState>();
  if (stateFd !== undefined) {
    const { state, why } = peekStateRecord(fds);
    // systemd keeps its own copy in the store.
    closeQuietly(stateFd.fd);
    if (state === null) {
      logger.warn('fd store state record unusable; pipes are matched by name only', { err: why });
    } else {
      out.upgrades = state.upgrades;
      out.logRoot = state.logRoot;
      // As of the last record rewrite: lines mirrored since then go to journald a second time.
      out.mirrors = state.mirrors;
      for (const log of state.logs) {
        byRel.set(log.rel, log);
        byHash.set(fdIdHash(log.rel), log);
      }
    }
  }
  const fallback = (rel: string): LogState => ({
    rel, driver: 'restored', domain: null, settings: defaults,
    bytesIn: 0, bytesWritten: 0, bytesDropped: 0, position: { inode: '0', offset: 0 }, readFd: null, stageFd: null,
  });
  for (const f of fds) {
    if (f === rpc || f === stateFd) continue;
    const parts = decodeFdName(f.name);
    const ours = parts !== null && (parts.kind === LOG_FD_KIND || parts.kind === STAGE_FD_KIND);
    const known = !ours ? undefined : parts.id !== null ? (byRel.get(parts.id) ?? fallback(parts.id)) : byHash.get(parts.hash);
    if (known === undefined) {
      logger.warn('inherited fd matches no log; closing it', { name: f.name });
      closeQuietly(f.fd);
      continue;
    }
    const slot = parts?.kind === STAGE_FD_KIND ? 'stageFd' : 'readFd';
    if (known[slot] !== null) {
      // systemd stored the same log twice (an open raced a crash): one pipe is the log's, the other stale.
      logger.warn('two stored fds for one log; keeping the first', { path: known.rel, kind: parts?.kind });
      closeQuietly(f.fd);
      continue;
    }
    known[slot] = f.fd;
    byRel.set(known.rel, known);
  }
  for (const log of byRel.values()) {
    // A staging pipe without its guest pipe (a close raced a crash): its bytes go to the file at adoption.
    if (log.stageFd !== null && log.readFd === null) log.readFd = emptyClosedPipe();
  }
  out.logs = [...byRel.values()];
  if (out.logs.some((l) => l.readFd !== null)) out.from = 'fd-store';
  return out;
}

/** Puts the inherited logs (unless resume.ts took them back already), connections and journal mirrors into a started daemon. */
export function restoreInherited(daemon: Daemon, inherited: Inherited): void {
  if (inherited.startedAt !== null) daemon.startedAt = inherited.startedAt;
  daemon.upgrades = inherited.upgrades;
  if (inherited.adoptedAt === null) {
    daemon.handler.adoptState(inherited.logs);
    inherited.adoptedAt = preciseNow();
  }
  for (const c of inherited.connections) daemon.server.adoptConnection(c.fd, c.replyTo ?? undefined);
  daemon.journal.mirrors.restore(inherited.mirrors);
  if (inherited.from !== null) {
    daemon.logger.info('took over from the previous process', {
      from: inherited.from,
      logs: inherited.logs.filter((l) => l.readFd !== null).length,
      clients: inherited.connections.length,
      upgrades: inherited.upgrades,
      mirrors: inherited.mirrors.length,
      ...(inherited.pausedAt === null ? {} : { pausedMs: Math.round(inherited.adoptedAt - inherited.pausedAt) }),
    });
  }
}
