// The daemon's journald settings: the `[journal]` table (mirroring logs into journald) and the
// `[ingest]` table (journald-compatible sockets served by the daemon). Both are optional; ingest
// is off unless a socket path is given.
import { resolve } from 'node:path';
import { LwError } from '@logwarden/core/protocol';
import { JOURNAL_SOCKET_PATH, STDOUT_LINE_MAX } from '@logwarden/core/journal';

export interface MirrorSettings {
  /** Mirror every log opened, even without the MIRROR_JOURNAL open flag. */
  byDefault: boolean;
  /** journald's native socket. */
  socketPath: string;
  /** PRIORITY of mirrored lines (0-7). */
  priority: number;
  /** SYSLOG_IDENTIFIER; null: `<driver>-<domain name>` (or the driver alone without a domain). */
  identifier: string | null;
  /** A line longer than this goes out in pieces flagged LOGWARDEN_PARTIAL=1. */
  maxLine: number;
}

export interface IngestSettings {
  /** Absolute socket paths; null = not served. */
  nativeSocket: string | null;
  stdoutSocket: string | null;
  /** Directory of the per-identifier JSON-lines logs, relative to the log root. */
  dir: string;
  /** null: the daemon's max_size / max_backups. */
  maxSize: number | null;
  maxBackups: number | null;
  /** Stdout-stream records longer than this are cut (journald's LineMax=). */
  lineMax: number;
}

export interface JournalSettings {
  mirror: MirrorSettings;
  ingest: IngestSettings;
}

const MIRROR_KEYS = new Set(['mirror', 'mirror_socket', 'mirror_priority', 'mirror_identifier', 'mirror_max_line']);
const INGEST_KEYS = new Set(['native_socket', 'stdout_socket', 'dir', 'max_size', 'max_backups', 'line_max']);
const LINE_BOUNDS = { min: 256, max: 16 * 1024 * 1024 };

/** Reads `[journal]` and `[ingest]` of a parsed config file; socket paths are relative to the state dir. */
export function loadJournalSettings(table: Record<string, unknown>, stateDir: string): JournalSettings {
  const j = section(table, 'journal', MIRROR_KEYS);
  const i = section(table, 'ingest', INGEST_KEYS);
  const identifier = optString(j, 'journal', 'mirror_identifier');
  if (identifier !== undefined && (identifier.includes('\n') || Buffer.byteLength(identifier) > 255)) {
    throw invalid(`'journal.mirror_identifier' must be one line of at most 255 bytes`, 'journal.mirror_identifier');
  }
  const mirror = j.mirror ?? false;
  if (typeof mirror !== 'boolean') throw invalid(`'journal.mirror' must be true or false`, 'journal.mirror');
  const nativeSocket = optString(i, 'ingest', 'native_socket');
  const stdoutSocket = optString(i, 'ingest', 'stdout_socket');
  const dir = optString(i, 'ingest', 'dir') ?? 'journal';
  if (dir.startsWith('/') || dir.split('/').includes('..')) {
    throw invalid(`'ingest.dir' must be a path inside the log root`, 'ingest.dir');
  }
  return {
    mirror: {
      byDefault: mirror,
      socketPath: resolve(stateDir, optString(j, 'journal', 'mirror_socket') ?? JOURNAL_SOCKET_PATH),
      priority: optInt(j, 'journal', 'mirror_priority', { min: 0, max: 7 }) ?? 6,
      identifier: identifier ?? null,
      maxLine: optInt(j, 'journal', 'mirror_max_line', LINE_BOUNDS) ?? STDOUT_LINE_MAX,
    },
    ingest: {
      nativeSocket: nativeSocket === undefined ? null : resolve(stateDir, nativeSocket),
      stdoutSocket: stdoutSocket === undefined ? null : resolve(stateDir, stdoutSocket),
      dir,
      maxSize: optInt(i, 'ingest', 'max_size', { min: 4096, max: 2 ** 40 }) ?? null,
      maxBackups: optInt(i, 'ingest', 'max_backups', { min: 0, max: 1000 }) ?? null,
      lineMax: optInt(i, 'ingest', 'line_max', LINE_BOUNDS) ?? STDOUT_LINE_MAX,
    },
  };
}

function section(table: Record<string, unknown>, name: string, keys: Set<string>): Record<string, unknown> {
  const v = table[name];
  if (v === undefined) return {};
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalid(`'${name}' must be a table`, name);
  const s = v as Record<string, unknown>;
  for (const key of Object.keys(s)) {
    if (!keys.has(key)) throw invalid(`unknown key '${name}.${key}'`, `${name}.${key}`);
  }
  return s;
}

function optString(s: Record<string, unknown>, name: string, key: string): string | undefined {
  const v = s[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v === '' || v.includes('\0')) throw invalid(`'${name}.${key}' must be a non-empty string`, `${name}.${key}`);
  return v;
}

function optInt(s: Record<string, unknown>, name: string, key: string, b: { min: number; max: number }): number | undefined {
  const v = s[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < b.min || v > b.max) {
    throw invalid(`'${name}.${key}' must be an integer from ${b.min} to ${b.max}`, `${name}.${key}`);
  }
  return v;
}

function invalid(message: string, key: string): LwError {
  return new LwError('LW_ERR_CONFIG_INVALID', message, { key });
}
