// What a daemon hands to the next one: across an in-place re-exec (a sealed memfd whose fd number is
// in LOGWARDEN_UPGRADE_STATE) and, without fd numbers, across a crash (the fd store's `state` record).
// JSON inside the state-record framing (magic, length, CRC-32), checked field by field on the way in.
// Fields added after version 1 are optional, so that any two versions can hand over to each other
// (an older daemon ignores them; a newer one reading an older state falls back to its defaults).
import { LwError } from '@logwarden/core/errors';
import type { WirePosition } from '@logwarden/core/protocol';
import type { LogState } from '../log-handler.js';

export const STATE_VERSION = 1;

/** The env variable naming the memfd that carries the state across execve. */
export const UPGRADE_STATE_ENV = 'LOGWARDEN_UPGRADE_STATE';
/** fd store names: a log's pipe is `log.<path>` (systemd/fd-names.ts), the record is `state`. */
export const LOG_FD_KIND = 'log';
/** A log's staging pipe (log-handler.ts): bytes taken from the guest, not yet in the file. */
export const STAGE_FD_KIND = 'stage';
export const STATE_FD_NAME = 'state';

/** Epoch milliseconds with a fraction, comparable between the two images of one re-exec. */
export function preciseNow(): number {
  return performance.timeOrigin + performance.now();
}

export interface CarriedConnection {
  fd: number;
  /** A call (the `upgrade` call itself) the next process answers with an empty result. */
  replyTo: number | null;
}

/** Where a journal mirror (journal/mirror.ts) stands: the next process goes on from there. */
export interface CarriedMirror {
  rel: string;
  /** A position the log's reader accepts, at or before `sent`: reading resumes there. */
  anchor: WirePosition;
  /** Stream offset of the first byte not yet in journald (bytes before it are skipped). */
  sent: number;
  entries: number;
  partial: number;
  gapBytes: number;
}

/** A guest pipe the previous process widened for the exec (exec-headroom.ts): `size` is the one it goes back to. */
export interface WidenedPipe {
  rel: string;
  size: number;
}

export interface DaemonState {
  version: typeof STATE_VERSION;
  /** Epoch ms the service started; uptime survives re-exec. */
  startedAt: number;
  upgrades: number;
  /** The listening RPC socket (re-exec only; systemd passes its own after a crash). */
  listenFd: number | null;
  connections: CarriedConnection[];
  logs: LogState[];
  /**
   * The log root the logs' paths are relative to (configured spelling): lets the next process take
   * the logs back before it reads its configuration. Null in a state from a daemon that did not send it.
   */
  logRoot: string | null;
  /** Settings for a stored pipe the record does not describe (the configuration's); null if not sent. */
  defaults: LogState['settings'] | null;
  mirrors: CarriedMirror[];
  /** Epoch ms (fractional) when the previous process stopped reading the pipes; null after a crash. */
  pausedAt: number | null;
  /** Pipes widened for the exec, to be shrunk back by the next process (re-exec only). */
  widened?: WidenedPipe[];
}

function invalid(message: string): LwError {
  return new LwError('LW_ERR_SYSTEMD_STATE_INVALID', message);
}

export function encodeState(state: DaemonState): Buffer {
  return Buffer.from(JSON.stringify(state), 'utf8');
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function count(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw invalid(`${what} is not a count`);
  return v;
}

function fdOrNull(v: unknown, what: string): number | null {
  return v === null ? null : count(v, what);
}

function text(v: unknown, what: string): string {
  if (typeof v !== 'string') throw invalid(`${what} is not a string`);
  return v;
}

function position(v: unknown, at: string): WirePosition {
  if (!isObject(v)) throw invalid(`${at} is malformed`);
  const inode = text(v.inode, `${at}.inode`);
  if (!/^\d{1,20}$/.test(inode)) throw invalid(`${at}.inode is not a decimal inode`);
  return { inode, offset: count(v.offset, `${at}.offset`) };
}

function decodeMirror(v: unknown, i: number): CarriedMirror {
  const at = `mirrors[${i}]`;
  if (!isObject(v)) throw invalid(`${at} is malformed`);
  return {
    rel: text(v.rel, `${at}.rel`),
    anchor: position(v.anchor, `${at}.anchor`),
    sent: count(v.sent, `${at}.sent`),
    entries: count(v.entries, `${at}.entries`),
    partial: count(v.partial, `${at}.partial`),
    gapBytes: count(v.gapBytes, `${at}.gapBytes`),
  };
}

function decodeWidened(v: unknown, i: number): WidenedPipe {
  const at = `widened[${i}]`;
  if (!isObject(v)) throw invalid(`${at} is malformed`);
  return { rel: text(v.rel, `${at}.rel`), size: count(v.size, `${at}.size`) };
}

function decodeSettings(v: unknown, at: string): LogState['settings'] {
  if (!isObject(v)) throw invalid(`${at} is malformed`);
  const first = v.firstBackupIndex;
  if (first !== 0 && first !== 1) throw invalid(`${at}.firstBackupIndex is not 0 or 1`);
  return { maxSize: count(v.maxSize, `${at}.maxSize`), maxBackups: count(v.maxBackups, `${at}.maxBackups`), firstBackupIndex: first };
}

function decodeLog(v: unknown, i: number): LogState {
  const at = `logs[${i}]`;
  if (!isObject(v)) throw invalid(`${at} is malformed`);
  const { domain } = v;
  if (domain !== null && !(isObject(domain) && typeof domain.uuid === 'string' && typeof domain.name === 'string')) {
    throw invalid(`${at}.domain is malformed`);
  }
  return {
    rel: text(v.rel, `${at}.rel`),
    driver: text(v.driver, `${at}.driver`),
    domain: domain === null ? null : { uuid: domain.uuid as string, name: domain.name as string },
    settings: decodeSettings(v.settings, `${at}.settings`),
    bytesIn: count(v.bytesIn, `${at}.bytesIn`),
    bytesWritten: count(v.bytesWritten, `${at}.bytesWritten`),
    bytesDropped: count(v.bytesDropped, `${at}.bytesDropped`),
    position: position(v.position, `${at}.position`),
    readFd: fdOrNull(v.readFd, `${at}.readFd`),
    // Absent from the state of a daemon that had no staging pipes.
    stageFd: v.stageFd === undefined ? null : fdOrNull(v.stageFd, `${at}.stageFd`),
  };
}

/** Parses and checks a payload made by encodeState; anything else is LW_ERR_SYSTEMD_STATE_INVALID. */
export function decodeState(bytes: Uint8Array): DaemonState {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    throw invalid('state is not JSON');
  }
  if (!isObject(v)) throw invalid('state is not an object');
  if (v.version !== STATE_VERSION) throw invalid(`state version ${String(v.version)} is not ${STATE_VERSION}`);
  if (!Array.isArray(v.connections) || !Array.isArray(v.logs)) throw invalid('state lacks connections or logs');
  const mirrors = v.mirrors ?? [];
  if (!Array.isArray(mirrors)) throw invalid('mirrors is not a list');
  const widened = v.widened ?? [];
  if (!Array.isArray(widened)) throw invalid('widened is not a list');
  const pausedAt = v.pausedAt ?? null;
  if (pausedAt !== null && (typeof pausedAt !== 'number' || !Number.isFinite(pausedAt) || pausedAt < 0)) {
    throw invalid('pausedAt is not a time');
  }
  return {
    version: STATE_VERSION,
    startedAt: count(v.startedAt, 'startedAt'),
    upgrades: count(v.upgrades, 'upgrades'),
    listenFd: fdOrNull(v.listenFd, 'listenFd'),
    connections: v.connections.map((c: unknown, i) => {
      if (!isObject(c)) throw invalid(`connections[${i}] is malformed`);
      return { fd: count(c.fd, `connections[${i}].fd`), replyTo: fdOrNull(c.replyTo, `connections[${i}].replyTo`) };
    }),
    logs: v.logs.map(decodeLog),
    logRoot: v.logRoot === undefined || v.logRoot === null ? null : text(v.logRoot, 'logRoot'),
    defaults: v.defaults === undefined || v.defaults === null ? null : decodeSettings(v.defaults, 'defaults'),
    mirrors: mirrors.map(decodeMirror),
    pausedAt,
    ...(v.widened === undefined ? {} : { widened: widened.map(decodeWidened) }),
  };
}
