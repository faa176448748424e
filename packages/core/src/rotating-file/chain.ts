// The on-disk chain of a rotating file: names, the position index, and the recovery step that
// repairs whatever a kill in the middle of a rotation left behind.
//
// A chain is `base` plus backups `base.N`. With firstBackupIndex 0 (virtlogd) the newest backup is
// `base.0`; with 1 (logrotate, libxl) it is `base.1`. Two hidden files sit beside the base:
// `.NAME.new`, the next base, prepared (and recorded in the index) before it is renamed into place,
// and `.NAME.chain`, the index: one `INODE START` line per file, START being the stream offset
// (bytes the chain received before it) of the file's first byte; later lines win.
//
// Why stream offsets: file systems hand a freed inode number to the next file created (ext4 does
// so at once), so `{inode, offset-in-file}` can silently point into a newer file. A position's
// offset is therefore a stream offset: it is valid only inside the range its inode's file covers
// now, and anything before the oldest file is a gap of exactly known size.
import fs from 'node:fs';
import path from 'node:path';
import { RENAME, renameat2 } from '../native/index.js';
import { invalidArgument } from './errors.js';

export const DEFAULT_MAX_BACKUPS = 3;
export const DEFAULT_MODE = 0o600;
const MAX_BACKUPS_LIMIT = 1000;

export interface ChainOptions {
  /** Backups kept beside the base (default 3; 0 = none). */
  maxBackups?: number;
  /** 0: `base.0` is the newest backup (virtlogd, the default); 1: `base.1` is (logrotate, libxl). */
  firstBackupIndex?: 0 | 1;
}

export interface ChainLayout {
  readonly base: string;
  /** Backup names, newest first. */
  readonly backups: readonly string[];
  readonly firstBackupIndex: 0 | 1;
  readonly newBase: string;
  readonly index: string;
  readonly indexTmp: string;
}

/** One existing file of the chain, as seen by stat. */
export interface ChainFile {
  readonly path: string;
  readonly ino: bigint;
  readonly size: number;
}

export function chainLayout(file: unknown, opts: ChainOptions = {}): ChainLayout {
  if (typeof file !== 'string' || file === '' || file.endsWith('/')) {
    throw invalidArgument('path must be a file path');
  }
  const maxBackups = opts.maxBackups ?? DEFAULT_MAX_BACKUPS;
  if (!Number.isInteger(maxBackups) || maxBackups < 0 || maxBackups > MAX_BACKUPS_LIMIT) {
    throw invalidArgument(`maxBackups must be an integer 0..${MAX_BACKUPS_LIMIT}`);
  }
  const first: unknown = opts.firstBackupIndex ?? 0;
  if (first !== 0 && first !== 1) throw invalidArgument('firstBackupIndex must be 0 or 1');
  const base = path.resolve(file);
  const dir = path.dirname(base);
  const name = path.basename(base);
  const backups: string[] = [];
  for (let i = 0; i < maxBackups; i++) backups.push(`${base}.${i + first}`);
  return {
    base,
    backups,
    firstBackupIndex: first,
    newBase: path.join(dir, `.${name}.new`),
    index: path.join(dir, `.${name}.chain`),
    indexTmp: path.join(dir, `.${name}.chain.tmp`),
  };
}

function slotPath(layout: ChainLayout, slot: number): string {
  return `${layout.base}.${slot + layout.firstBackupIndex}`;
}

function statFile(p: string): fs.BigIntStats | undefined {
  return fs.statSync(p, { bigint: true, throwIfNoEntry: false });
}

export function unlinkIfExists(p: string): void {
  try {
    fs.unlinkSync(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/** Existing files oldest first, base last. Read-only: tolerates the states of a rotation in flight. */
export function listChain(layout: ChainLayout): ChainFile[] {
  const files: ChainFile[] = [];
  for (let i = layout.backups.length - 1; i >= -1; i--) {
    const p = i < 0 ? layout.base : (layout.backups[i] as string);
    const st = statFile(p);
    if (st?.isFile() === true) files.push({ path: p, ino: st.ino, size: Number(st.size) });
  }
  return files;
}

/**
 * The index as inode -> stream start. Later lines win (inode numbers get reused); a torn line is
 * skipped, and so is a last line without its newline (a torn append may have cut its number short).
 */
export function readIndex(layout: ChainLayout): Map<bigint, number> {
  const records = new Map<bigint, number>();
  let text: string;
  try {
    text = fs.readFileSync(layout.index, 'latin1');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return records;
    throw err;
  }
  const lines = text.split('\n');
  lines.pop();
  for (const line of lines) {
    const m = /^(\d+) (-?\d+)$/.exec(line);
    if (m === null) continue;
    records.set(BigInt(m[1] as string), Number(m[2]));
  }
  return records;
}

export function formatRecord(ino: bigint, start: number): string {
  return `${ino} ${start}\n`;
}

/** Creates an empty file with exactly `mode` (umask does not apply); returns the open O_APPEND fd. */
export function createFile(p: string, mode: number, exclusive: boolean): number {
  const { O_WRONLY, O_CREAT, O_APPEND, O_EXCL, O_TRUNC } = fs.constants;
  const fd = fs.openSync(p, O_WRONLY | O_CREAT | O_APPEND | (exclusive ? O_EXCL : O_TRUNC), mode);
  try {
    fs.fchmodSync(fd, mode);
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
  return fd;
}

/**
 * Truncate mode: removes every backup (oldest first, so a kill leaves a shorter chain), then the
 * base. Returns the stream offset the old chain ended at: the new one goes on from there, so old
 * positions read as a gap instead of landing in new data.
 */
function removeChain(layout: ChainLayout): number {
  const chain = listChain(layout);
  const starts = chainStarts(chain, readIndex(layout));
  const last = chain[chain.length - 1];
  const end = starts === undefined || last === undefined ? 0 : (starts[chain.length - 1] as number) + last.size;
  for (let slot = extraSlotsEnd(layout) - 1; slot >= 0; slot--) unlinkIfExists(slotPath(layout, slot));
  unlinkIfExists(layout.base);
  unlinkIfExists(layout.newBase);
  // The new base may get an old file's inode number: old records must not anchor it.
  unlinkIfExists(layout.index);
  return end;
}

/** One past the last contiguous backup slot in use, counting slots beyond maxBackups (a shrunk config). */
function extraSlotsEnd(layout: ChainLayout): number {
  let slot = layout.backups.length;
  while (statFile(slotPath(layout, slot)) !== undefined) slot++;
  return slot;
}

/**
 * Brings the chain to a consistent state before a writer uses it; returns the stream start of the
 * base. Rotation unlinks the file it drops, then renames oldest-first and the base last (see
 * writer.ts), so a kill can leave: a chain one backup short (the oldest already unlinked: nothing
 * to repair), a hole among the backups (closed up here, order kept), a missing base (the prepared
 * `.new` is renamed in, or an empty base created), a stray `.new` beside a base (removed: nothing
 * was written to it), a stray index temp file (a torn rewrite, or the old index just exchanged out:
 * removed either way, the index in place is whole). Hard-linked duplicates, which rename never makes but other tools may, keep
 * their newest name only. Backups beyond maxBackups (a shrunk config) are removed oldest first.
 */
export function recoverChain(layout: ChainLayout, mode: number, truncate: boolean, maxSize: number): number {
  const truncatedAt = truncate ? removeChain(layout) : 0;
  unlinkIfExists(layout.indexTmp);
  const end = extraSlotsEnd(layout);
  for (let slot = end - 1; slot >= layout.backups.length; slot--) unlinkIfExists(slotPath(layout, slot));

  const seen = new Set<bigint>();
  const baseStat = statFile(layout.base);
  if (baseStat !== undefined) seen.add(baseStat.ino);
  const present: string[] = [];
  for (const p of layout.backups) {
    const st = statFile(p);
    // Only regular files are ours to move; anything else stays put (a rotation onto it fails, counted).
    if (st?.isFile() !== true) continue;
    if (seen.has(st.ino)) {
      unlinkIfExists(p);
      continue;
    }
    seen.add(st.ino);
    present.push(p);
  }
  present.forEach((p, slot) => {
    const target = layout.backups[slot] as string;
    if (p !== target) fs.renameSync(p, target);
  });

  if (baseStat === undefined) {
    if (statFile(layout.newBase) !== undefined) fs.renameSync(layout.newBase, layout.base);
    else createLostBase(layout, mode, truncatedAt, maxSize);
  } else {
    unlinkIfExists(layout.newBase);
  }
  return rewriteIndex(layout, mode, truncatedAt);
}

/** How far a lost base of unknown size is assumed to have reached when files have no size limit. */
const UNBOUNDED_LOST_BASE = 2 ** 40;

/**
 * Creates a base that is missing without a prepared successor: a new chain, a truncated one, or a
 * base deleted by hand. Its stream start goes past everything the index knows (a lost base is
 * assumed to have been at most maxSize long), so a position into lost bytes can never land in new
 * ones, even when the new base gets the lost file's inode number.
 */
function createLostBase(layout: ChainLayout, mode: number, floor: number, maxSize: number): void {
  const chain = listChain(layout);
  const records = readIndex(layout);
  const starts = chainStarts(chain, records);
  const last = chain[chain.length - 1];
  let start = starts === undefined || last === undefined ? floor : (starts[chain.length - 1] as number) + last.size;
  for (const known of records.values()) start = Math.max(start, known + (maxSize > 0 ? maxSize : UNBOUNDED_LOST_BASE));
  start = Math.max(start, floor);
  const fd = createFile(layout.base, mode, true);
  try {
    const ino = fs.fstatSync(fd, { bigint: true }).ino;
    fs.appendFileSync(layout.index, formatRecord(ino, start), { mode });
  } catch {
    // Advisory, like every index write: without it the base is placed after its predecessors.
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Stream starts of the listed files (oldest first): the oldest file the index knows is the anchor,
 * older ones are placed before it by their sizes, newer ones right after their predecessor unless
 * the index puts them later (a base lost and recreated leaves such a hole). A record that would
 * overlap the predecessor is stale (an earlier file with the same inode number) and is ignored.
 * Without a known file: the oldest starts at `fallback`, or the result is undefined.
 */
export function chainStarts(
  chain: readonly ChainFile[],
  records: Map<bigint, number>,
  fallback?: number,
): number[] | undefined {
  let anchor = chain.findIndex((f) => records.has(f.ino));
  if (anchor < 0 && fallback === undefined) return undefined;
  const starts = new Array<number>(chain.length).fill(0);
  if (anchor < 0) {
    anchor = 0;
    starts[0] = fallback ?? 0;
  } else {
    starts[anchor] = records.get((chain[anchor] as ChainFile).ino) as number;
  }
  for (let i = anchor - 1; i >= 0; i--) starts[i] = (starts[i + 1] as number) - (chain[i] as ChainFile).size;
  for (let i = anchor + 1; i < chain.length; i++) {
    const after = (starts[i - 1] as number) + (chain[i - 1] as ChainFile).size;
    const known = records.get((chain[i] as ChainFile).ino);
    starts[i] = known !== undefined && known > after ? known : after;
  }
  return starts;
}

/**
 * Puts the freshly written index temp file in the index's place without a rename that replaces a
 * file: ext4 (auto_da_alloc) writes a file renamed over another back at once, ~0.15 ms here
 * against ~0.05 ms for an exchange. RENAME_EXCHANGE swaps the two names in one step (the index
 * exists at every instant, for readers and for recovery, which removes whatever the temp name
 * holds), then the old version goes. Without an index yet, or on a file system that cannot
 * exchange, a plain rename does it.
 */
function installIndex(layout: ChainLayout): void {
  try {
    renameat2(layout.indexTmp, layout.index, RENAME.EXCHANGE);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code !== 'ENOENT' && code !== 'EINVAL' && code !== 'ENOSYS') throw err;
    fs.renameSync(layout.indexTmp, layout.index);
    return;
  }
  unlinkIfExists(layout.indexTmp);
}

/**
 * Rewrites the index from the live chain; returns the base's stream start. Without any known
 * anchor (a new chain, or the index was lost) the oldest file starts at `fallbackStart`.
 * The index only keeps positions exact, so failing to store it (a full disk) is not an error:
 * the starts still follow from the previous index and the sizes.
 */
export function rewriteIndex(layout: ChainLayout, mode: number, fallbackStart = 0): number {
  const chain = listChain(layout);
  const starts = chainStarts(chain, readIndex(layout), fallbackStart) as number[];
  let text = '';
  chain.forEach((f, i) => {
    text += formatRecord(f.ino, starts[i] as number);
  });
  try {
    fs.writeFileSync(layout.indexTmp, text, { mode });
    installIndex(layout);
  } catch {
    try {
      fs.unlinkSync(layout.indexTmp);
    } catch {
      // Nothing to clean up; recovery removes a stray temp file anyway.
    }
  }
  return starts[chain.length - 1] ?? fallbackStart;
}
