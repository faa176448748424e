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
//
// Members: every file of a chain is a regular file whose only name is its chain name. The writer
// makes nothing else (create, rename and unlink never leave a link, a FIFO or a directory), so
// anything else at a chain's name was put there by someone else: a symlink or a hard link that
// reaches outside the directory (the daemon runs as root), a FIFO that would block an open, a
// directory. Such an entry is never followed, read or written: readers skip it as missing, the
// writer removes the name (never what it points to) or refuses the chain (see evictForeign()).
// Every open goes through openMember() or createFile(), which hold to this even when an entry is
// swapped between a check and the open; renames and unlinks act on names and never follow.
import fs from 'node:fs';
import path from 'node:path';
import { RENAME, renameat2 } from '../native/index.js';
import { RotatingFileError, invalidArgument, unsafeMember } from './errors.js';

export const DEFAULT_MAX_BACKUPS = 3;
export const DEFAULT_MODE = 0o600;
const MAX_BACKUPS_LIMIT = 1000;
/** An index holds a line (~40 bytes) per file plus at most 64 appended ones; a bigger one is not ours. */
const MAX_INDEX_BYTES = 1024 * 1024;
const { O_APPEND, O_CREAT, O_EXCL, O_NOCTTY, O_NOFOLLOW, O_NONBLOCK, O_RDONLY, O_WRONLY } = fs.constants;

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

/** What is at a name itself (lstat: a symlink is not followed); undefined when nothing is. */
function entryAt(p: string): fs.BigIntStats | undefined {
  return fs.lstatSync(p, { bigint: true, throwIfNoEntry: false });
}

/**
 * Why an entry is not a member, or undefined if it is one: a regular file with at most `names`
 * links (the chain's own names of it; a link more may be a name outside the directory).
 */
function foreignKind(st: fs.BigIntStats, names = 1n): string | undefined {
  if (st.isFile()) return st.nlink > names ? `a file with ${st.nlink} links` : undefined;
  if (st.isSymbolicLink()) return 'a symlink';
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  return 'a device';
}

export function isUnsafeMember(err: unknown): boolean {
  return err instanceof RotatingFileError && err.code === 'LW_ERR_ROTATING_FILE_UNSAFE_MEMBER';
}

/**
 * Opens an existing member, or creates one with O_CREAT in flags. O_NOFOLLOW: a symlink in the last
 * component fails instead of being followed (the directory part is the caller's to pin, as the
 * daemon does with a /proc/self/fd/N/ prefix); O_NONBLOCK: a FIFO cannot block the open; O_NOCTTY:
 * a terminal cannot become ours. fstat then checks what was really opened. Anything but a member is
 * LW_ERR_ROTATING_FILE_UNSAFE_MEMBER; other errors (ENOENT...) pass through. The fd keeps
 * O_NONBLOCK, which Linux ignores for regular files (the writer clears it on the fds it keeps).
 */
export function openMember(p: string, flags: number, mode = DEFAULT_MODE): { fd: number; st: fs.BigIntStats } {
  let fd: number;
  try {
    fd = fs.openSync(p, flags | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, mode);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') throw unsafeMember(p, 'a symlink');
    if (code === 'EISDIR') throw unsafeMember(p, 'a directory');
    // A FIFO without a reader (opened for writing), a socket.
    if (code === 'ENXIO') throw unsafeMember(p, 'a FIFO or a socket');
    throw err;
  }
  let st: fs.BigIntStats;
  try {
    st = fs.fstatSync(fd, { bigint: true });
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
  const kind = foreignKind(st);
  if (kind !== undefined) {
    fs.closeSync(fd);
    throw unsafeMember(p, kind);
  }
  return { fd, st };
}

export function unlinkIfExists(p: string): void {
  try {
    fs.unlinkSync(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/** Existing members oldest first, base last. Read-only: tolerates the states of a rotation in flight. */
export function listChain(layout: ChainLayout): ChainFile[] {
  const files: ChainFile[] = [];
  for (let i = layout.backups.length - 1; i >= -1; i--) {
    const p = i < 0 ? layout.base : (layout.backups[i] as string);
    const st = entryAt(p);
    if (st !== undefined && foreignKind(st) === undefined) files.push({ path: p, ino: st.ino, size: Number(st.size) });
  }
  return files;
}

/** Reads up to buf.length bytes from the start of a file; returns the count (less at EOF). */
function readHead(fd: number, buf: Buffer): number {
  let got = 0;
  while (got < buf.length) {
    const n = fs.readSync(fd, buf, got, buf.length - got, got);
    if (n === 0) break;
    got += n;
  }
  return got;
}

/**
 * The index as inode -> stream start. Later lines win (inode numbers get reused); a torn line is
 * skipped, and so is a last line without its newline (a torn append may have cut its number short).
 * An index that is not a member, or too big to be one the writer wrote, counts as absent.
 */
export function readIndex(layout: ChainLayout): Map<bigint, number> {
  const records = new Map<bigint, number>();
  let opened: { fd: number; st: fs.BigIntStats };
  try {
    opened = openMember(layout.index, O_RDONLY);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || isUnsafeMember(err)) return records;
    throw err;
  }
  let text: string;
  try {
    if (opened.st.size > MAX_INDEX_BYTES) return records;
    const buf = Buffer.allocUnsafe(Number(opened.st.size));
    text = buf.toString('latin1', 0, readHead(opened.fd, buf));
  } finally {
    fs.closeSync(opened.fd);
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

/**
 * Creates a fresh, empty member with exactly `mode` (umask does not apply); returns the open
 * O_APPEND fd. O_CREAT|O_EXCL never opens what is already there, nor a symlink's target. With
 * `replace`, an entry already at the name (a temp file a kill left, or anything planted) is
 * unlinked first: the name only.
 */
export function createFile(p: string, mode: number, replace: boolean): number {
  const flags = O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_NOFOLLOW;
  let fd: number;
  try {
    fd = fs.openSync(p, flags, mode);
  } catch (err) {
    if (!replace || (err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    unlinkIfExists(p);
    fd = fs.openSync(p, flags, mode);
  }
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
  while (entryAt(slotPath(layout, slot)) !== undefined) slot++;
  return slot;
}

/**
 * Clears the chain's names of what is not the chain's own, before recovery moves anything. The
 * base is the name the caller asked for: anything but a member there is refused. So is a directory
 * at any name (removing it would mean reaching into it). Anything else at a backup or hidden name
 * (a symlink, a FIFO, a socket, a device, a file with a name elsewhere too) is unlinked: the name,
 * never what it points to. Names the chain itself shares (hard-linked duplicates) are left to the
 * recovery. A refusal changes nothing.
 */
function evictForeign(layout: ChainLayout): void {
  const chainNames = [layout.base];
  for (let slot = 0, end = extraSlotsEnd(layout); slot < end; slot++) chainNames.push(slotPath(layout, slot));
  const found: [string, fs.BigIntStats | undefined][] = chainNames.map((p) => [p, entryAt(p)]);
  const ownNames = new Map<bigint, bigint>();
  for (const [, st] of found) if (st?.isFile() === true) ownNames.set(st.ino, (ownNames.get(st.ino) ?? 0n) + 1n);
  for (const p of [layout.newBase, layout.index, layout.indexTmp]) found.push([p, entryAt(p)]);
  const foreign: string[] = [];
  for (const [p, st] of found) {
    if (st === undefined) continue;
    const kind = foreignKind(st, ownNames.get(st.ino) ?? 1n);
    if (kind === undefined) continue;
    if (p === layout.base || st.isDirectory()) throw unsafeMember(p, kind);
    foreign.push(p);
  }
  for (const p of foreign) unlinkIfExists(p);
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
 * Entries that are not members are dealt with first (evictForeign()): refused, or their names removed.
 */
export function recoverChain(layout: ChainLayout, mode: number, truncate: boolean, maxSize: number): number {
  evictForeign(layout);
  const truncatedAt = truncate ? removeChain(layout) : 0;
  unlinkIfExists(layout.indexTmp);
  const end = extraSlotsEnd(layout);
  for (let slot = end - 1; slot >= layout.backups.length; slot--) unlinkIfExists(slotPath(layout, slot));

  const seen = new Set<bigint>();
  const baseStat = entryAt(layout.base);
  if (baseStat !== undefined) seen.add(baseStat.ino);
  const present: string[] = [];
  for (const p of layout.backups) {
    const st = entryAt(p);
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
    if (entryAt(layout.newBase)?.isFile() === true) fs.renameSync(layout.newBase, layout.base);
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
  const fd = createFile(layout.base, mode, false);
  try {
    const ino = fs.fstatSync(fd, { bigint: true }).ino;
    const index = openMember(layout.index, O_WRONLY | O_APPEND | O_CREAT, mode);
    try {
      fs.writeSync(index.fd, formatRecord(ino, start));
    } finally {
      fs.closeSync(index.fd);
    }
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
    const fd = createFile(layout.indexTmp, mode, true);
    try {
      fs.writeFileSync(fd, text);
    } finally {
      fs.closeSync(fd);
    }
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
