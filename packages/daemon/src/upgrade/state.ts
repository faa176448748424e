// What a daemon hands to the next one: across an in-place re-exec (a sealed memfd whose fd number is
// in LOGWARDEN_UPGRADE_STATE) and, without fd numbers, across a crash (the fd store's `state` record).
// JSON inside the state-record framing (magic, length, CRC-32), checked field by field on the way in.
import { LwError } from '@logwarden/core/protocol';
import type { LogState } from '../log-handler.js';

export const STATE_VERSION = 1;

/** The env variable naming the memfd that carries the state across execve. */
export const UPGRADE_STATE_ENV = 'LOGWARDEN_UPGRADE_STATE';

export interface CarriedConnection {
  fd: number;
  /** A call (the `upgrade` call itself) the next process answers with an empty result. */
  replyTo: number | null;
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

function decodeLog(v: unknown, i: number): LogState {
  const at = `logs[${i}]`;
  if (!isObject(v) || !isObject(v.settings) || !isObject(v.position)) throw invalid(`${at} is malformed`);
  const { settings, position, domain } = v;
  if (domain !== null && !(isObject(domain) && typeof domain.uuid === 'string' && typeof domain.name === 'string')) {
    throw invalid(`${at}.domain is malformed`);
  }
  const first = settings.firstBackupIndex;
  if (first !== 0 && first !== 1) throw invalid(`${at}.settings.firstBackupIndex is not 0 or 1`);
  const inode = text(position.inode, `${at}.position.inode`);
  if (!/^\d{1,20}$/.test(inode)) throw invalid(`${at}.position.inode is not a decimal inode`);
  return {
    rel: text(v.rel, `${at}.rel`),
    driver: text(v.driver, `${at}.driver`),
    domain: domain === null ? null : { uuid: domain.uuid as string, name: domain.name as string },
    settings: {
      maxSize: count(settings.maxSize, `${at}.settings.maxSize`),
      maxBackups: count(settings.maxBackups, `${at}.settings.maxBackups`),
      firstBackupIndex: first,
    },
    bytesIn: count(v.bytesIn, `${at}.bytesIn`),
    bytesWritten: count(v.bytesWritten, `${at}.bytesWritten`),
    bytesDropped: count(v.bytesDropped, `${at}.bytesDropped`),
    position: { inode, offset: count(position.offset, `${at}.position.offset`) },
    readFd: fdOrNull(v.readFd, `${at}.readFd`),
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
  };
}
