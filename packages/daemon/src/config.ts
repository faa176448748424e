// Daemon configuration: a TOML file (keys named like virtlogd.conf's) under command-line flags,
// over embedded defaults that run the daemon in ./var. Every problem is one coded error.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse, TomlError } from 'smol-toml';
import { LwError } from '@logwarden/core/protocol';
import { loadJournalSettings, type JournalSettings } from './journal/settings.js';
import { isLogLevel, type LogLevel } from './logger.js';

export interface DaemonConfig {
  /** The file this came from, or null for the embedded defaults. */
  configPath: string | null;
  stateDir: string;
  socketPath: string;
  socketMode: number;
  socketGroup: number | null;
  logRoot: string;
  maxSize: number;
  maxBackups: number;
  maxClients: number;
  /** Peers (by SO_PEERCRED uid) allowed to connect. */
  allowedUids: readonly number[];
  logLevel: LogLevel;
  /** Capacity asked of each guest pipe: what a stalled disk may hold back before bytes are dropped. */
  pipeSize: number;
  /** Pipe capacity added across all open logs for the few ms of a re-exec (upgrade/exec-headroom.ts); 0 = none. */
  execHeadroom: number;
  /** A log file write running longer than this makes its log drop what the guest writes meanwhile (ms). */
  stallTimeoutMs: number;
  /** Newest backup is `.0` (virtlogd) or `.1` (logrotate, libxl). */
  backupNaming: 'virtlogd' | 'logrotate';
  /** Exit after this long with no open log and no client; null = never. */
  idleTimeoutMs: number | null;
  /** `[journal]` (log mirrors into journald) and `[ingest]` (journald-compatible sockets): journal/settings.ts. */
  journal: JournalSettings;
}

/** Overrides from the command line; they beat the file. */
export interface ConfigFlags {
  configPath?: string;
  stateDir?: string;
  timeoutSec?: number;
  verbose?: boolean;
}

// virtlogd's defaults: max_size 2 MiB, max_backups 3, max_clients 1024.
export const DEFAULTS = {
  stateDir: 'var',
  socketName: 'run/logwardend.sock',
  logRootName: 'log',
  socketMode: 0o600,
  maxSize: 2 * 1024 * 1024,
  maxBackups: 3,
  maxClients: 1024,
  logLevel: 'info',
  pipeSize: 1024 * 1024,
  execHeadroom: 256 * 1024 * 1024,
  stallTimeoutMs: 1000,
  backupNaming: 'virtlogd',
} as const;

/** Inclusive bounds shared by the file and by per-log overrides arriving over RPC. */
export const BOUNDS = {
  maxSize: { min: 4096, max: 2 ** 40 },
  maxBackups: { min: 0, max: 1000 },
  maxClients: { min: 1, max: 65536 },
  pipeSize: { min: 4096, max: 256 * 1024 * 1024 },
  execHeadroom: { min: 0, max: 2 ** 40 },
  stallTimeoutMs: { min: 10, max: 3_600_000 },
  timeoutSec: { min: 1, max: 365 * 24 * 3600 },
} as const;

const KEYS = new Set([
  'state_dir', 'socket_path', 'socket_mode', 'socket_group', 'log_root', 'max_size', 'max_backups',
  'max_clients', 'allowed_uids', 'log_level', 'pipe_size', 'backup_naming', 'journal', 'ingest',
  'exec_headroom', 'stall_timeout_ms',
]);

export function loadConfig(flags: ConfigFlags, cwd: string = process.cwd()): DaemonConfig {
  const configPath = flags.configPath === undefined ? null : resolve(cwd, flags.configPath);
  const table = configPath === null ? {} : readTable(configPath);
  // Relative paths in a file are relative to that file, so the file means the same from any cwd.
  const fileBase = configPath === null ? cwd : dirname(configPath);

  for (const key of Object.keys(table)) {
    if (!KEYS.has(key)) throw invalid(`unknown key '${key}'`, { key });
  }

  const stateDir = flags.stateDir !== undefined
    ? resolve(cwd, flags.stateDir)
    : resolve(fileBase, optString(table, 'state_dir') ?? DEFAULTS.stateDir);
  const socketPath = resolve(stateDir, optString(table, 'socket_path') ?? DEFAULTS.socketName);
  const logRoot = resolve(stateDir, optString(table, 'log_root') ?? DEFAULTS.logRootName);

  const socketMode = optInt(table, 'socket_mode', { min: 0, max: 0o777 }) ?? DEFAULTS.socketMode;
  const group = table.socket_group;
  let socketGroup: number | null = null;
  if (typeof group === 'string') socketGroup = lookupGroup(group);
  else if (group !== undefined) socketGroup = intIn('socket_group', group, { min: 0, max: 2 ** 32 - 2 });

  const uids = table.allowed_uids;
  let allowedUids: number[];
  if (uids === undefined) {
    // root and whoever runs the daemon, like a socket left at 0600 would allow anyway.
    allowedUids = [...new Set([0, process.getuid?.() ?? 0])];
  } else {
    if (!Array.isArray(uids)) throw invalid(`'allowed_uids' must be an array of uids`, { key: 'allowed_uids' });
    allowedUids = uids.map((u) => intIn('allowed_uids', u, { min: 0, max: 2 ** 32 - 2 }));
  }

  const levelValue = table.log_level ?? DEFAULTS.logLevel;
  if (!isLogLevel(levelValue)) throw invalid(`'log_level' must be one of error, warn, info, debug`, { key: 'log_level' });
  const naming = table.backup_naming ?? DEFAULTS.backupNaming;
  if (naming !== 'virtlogd' && naming !== 'logrotate') {
    throw invalid(`'backup_naming' must be "virtlogd" or "logrotate"`, { key: 'backup_naming' });
  }

  let idleTimeoutMs: number | null = null;
  if (flags.timeoutSec !== undefined) idleTimeoutMs = intIn('--timeout', flags.timeoutSec, BOUNDS.timeoutSec) * 1000;

  return {
    configPath,
    stateDir,
    socketPath,
    socketMode,
    socketGroup,
    logRoot,
    maxSize: optInt(table, 'max_size', BOUNDS.maxSize) ?? DEFAULTS.maxSize,
    maxBackups: optInt(table, 'max_backups', BOUNDS.maxBackups) ?? DEFAULTS.maxBackups,
    maxClients: optInt(table, 'max_clients', BOUNDS.maxClients) ?? DEFAULTS.maxClients,
    allowedUids,
    logLevel: flags.verbose === true ? 'debug' : levelValue,
    pipeSize: optInt(table, 'pipe_size', BOUNDS.pipeSize) ?? DEFAULTS.pipeSize,
    execHeadroom: optInt(table, 'exec_headroom', BOUNDS.execHeadroom) ?? DEFAULTS.execHeadroom,
    stallTimeoutMs: optInt(table, 'stall_timeout_ms', BOUNDS.stallTimeoutMs) ?? DEFAULTS.stallTimeoutMs,
    backupNaming: naming,
    idleTimeoutMs,
    journal: loadJournalSettings(table, stateDir),
  };
}

/** Checks one integer setting against its bounds; the same check guards RPC overrides. */
export function intIn(key: string, value: unknown, bounds: { min: number; max: number }): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < bounds.min || value > bounds.max) {
    throw invalid(`'${key}' must be an integer from ${bounds.min} to ${bounds.max}`, { key });
  }
  return value;
}

function readTable(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
    throw new LwError('LW_ERR_CONFIG_INVALID', `cannot read config file ${path}: ${code}`, { path, errno: code });
  }
  try {
    return parse(text);
  } catch (err) {
    if (err instanceof TomlError) {
      throw new LwError('LW_ERR_CONFIG_INVALID', `${path}:${err.line}:${err.column}: ${firstLine(err.message)}`, {
        path, line: err.line, column: err.column,
      });
    }
    throw err;
  }
}

function firstLine(s: string): string {
  return s.split('\n', 1)[0] ?? s;
}

function optString(table: Record<string, unknown>, key: string): string | undefined {
  const v = table[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v === '' || v.includes('\0')) throw invalid(`'${key}' must be a non-empty path`, { key });
  return v;
}

function optInt(table: Record<string, unknown>, key: string, bounds: { min: number; max: number }): number | undefined {
  const v = table[key];
  return v === undefined ? undefined : intIn(key, v, bounds);
}

// Node has no getgrnam(); /etc/group is what it would read on a host without NSS modules.
function lookupGroup(name: string): number {
  if (/^\d+$/.test(name)) return intIn('socket_group', Number(name), { min: 0, max: 2 ** 32 - 2 });
  let text = '';
  try {
    text = readFileSync('/etc/group', 'utf8');
  } catch {
    // No group database: the name cannot resolve, reported below.
  }
  for (const line of text.split('\n')) {
    const [group, , gid] = line.split(':');
    if (group === name && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
  }
  throw invalid(`'socket_group' names an unknown group '${name}'`, { key: 'socket_group' });
}

function invalid(message: string, data: Record<string, unknown>): LwError {
  return new LwError('LW_ERR_CONFIG_INVALID', message, data);
}

/** Paths that a reload cannot change (the socket and root are already in use). */
export function fixedSettingsChanged(before: DaemonConfig, after: DaemonConfig): string[] {
  const changed: string[] = [];
  if (before.stateDir !== after.stateDir) changed.push('state_dir');
  if (before.socketPath !== after.socketPath) changed.push('socket_path');
  if (before.socketMode !== after.socketMode) changed.push('socket_mode');
  if (before.socketGroup !== after.socketGroup) changed.push('socket_group');
  if (before.logRoot !== after.logRoot) changed.push('log_root');
  if (before.maxClients !== after.maxClients) changed.push('max_clients');
  return changed;
}
