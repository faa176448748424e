// The method table: names, append-only ids, known flags, and the argument/result types of each call.

/** Method ids are append-only: a new method takes the next id, an id is never reused or renumbered. */
export const METHOD_NAMES = [
  'hello', // 0
  'openLog', // 1
  'getPosition', // 2
  'read', // 3
  'append', // 4
  'follow', // 5
  'list', // 6
  'closeLog', // 7
  'removeLog', // 8
  'stats', // 9
  'setLogLevel', // 10
  'reloadConfig', // 11
  'upgrade', // 12
  'cancel', // 13
] as const;

export type MethodName = (typeof METHOD_NAMES)[number];

export const METHOD_IDS: Readonly<Record<MethodName, number>> = Object.freeze(
  Object.fromEntries(METHOD_NAMES.map((name, id) => [name, id])) as Record<MethodName, number>,
);

export function methodName(id: number): MethodName | undefined {
  return Number.isInteger(id) ? METHOD_NAMES[id] : undefined;
}

export const OPEN_FLAGS = Object.freeze({
  /** Start the log empty: existing file and backups are removed first. */
  TRUNCATE: 1,
  /** Also send each line of the log to journald as a structured entry (the daemon's journal mirror). */
  MIRROR_JOURNAL: 2,
});

/** Known flag bits per method; any other bit is rejected with LW_ERR_PROTO_UNKNOWN_FLAGS. */
export const METHOD_FLAGS: Readonly<Record<MethodName, number>> = Object.freeze({
  hello: 0,
  openLog: OPEN_FLAGS.TRUNCATE | OPEN_FLAGS.MIRROR_JOURNAL,
  getPosition: 0,
  read: 0,
  append: 0,
  follow: 0,
  list: 0,
  closeLog: 0,
  removeLog: 0,
  stats: 0,
  setLogLevel: 0,
  reloadConfig: 0,
  upgrade: 0,
  cancel: 0,
});

/** A place in a log: the inode of the file it was written to (decimal string, u64 safe) and the offset in it. */
export interface WirePosition {
  inode: string;
  offset: number;
}

/** Reads from here start at the oldest byte the daemon still keeps (inode 0 is never a real inode). */
export const POSITION_START: Readonly<WirePosition> = Object.freeze({ inode: '0', offset: 0 });

export interface Domain {
  uuid: string;
  name: string;
}

export interface LogInfo {
  path: string;
  driver: string;
  domain: Domain | null;
  open: boolean;
  bytesIn: number;
  bytesWritten: number;
  bytesDropped: number;
  position: WirePosition;
}

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
export const LOG_LEVELS: readonly LogLevel[] = ['error', 'warn', 'info', 'debug'];

export interface FollowEvent {
  data: Uint8Array;
  /** Position just after `data`. */
  position: WirePosition;
  /** Bytes rotated away (skipped) before `data`. */
  gap: number;
}

interface Flags {
  flags: number;
}

export interface MethodArgs {
  hello: Flags & { version: number; client?: string };
  openLog: Flags & { driver: string; domain: Domain | null; path: string; maxSize?: number; maxBackups?: number };
  getPosition: Flags & { path: string };
  read: Flags & { path: string; position: WirePosition; maxLen: number };
  append: Flags & {
    driver: string;
    domain: Domain | null;
    path: string;
    data: Uint8Array;
    maxSize?: number;
    maxBackups?: number;
  };
  /** `credit` is the initial flow control window (DEFAULT_FOLLOW_CREDIT when absent). */
  follow: Flags & { path: string; position: WirePosition; credit?: { events: number; bytes: number } };
  list: Flags;
  closeLog: Flags & { path: string };
  removeLog: Flags & { path: string };
  stats: Flags & { path?: string };
  setLogLevel: Flags & { level: LogLevel };
  reloadConfig: Flags;
  upgrade: Flags;
  cancel: Flags & { streamId: number };
}

type Empty = Record<string, never>;

export interface MethodResults {
  hello: { version: number; server: string; methods: string[] };
  openLog: { position: WirePosition };
  getPosition: { position: WirePosition };
  read: { data: Uint8Array; position: WirePosition; gap: number };
  append: { position: WirePosition };
  follow: { streamId: number };
  list: { logs: LogInfo[] };
  closeLog: Empty;
  removeLog: { removed: number };
  stats: { uptimeMs: number; upgrades: number; logs: LogInfo[] };
  setLogLevel: Empty;
  reloadConfig: Empty;
  upgrade: Empty;
  cancel: Empty;
}

/** Arguments as a caller writes them: `flags` defaults to 0. */
export type CallArgs<M extends MethodName> = Omit<MethodArgs[M], 'flags'> & { flags?: number };
