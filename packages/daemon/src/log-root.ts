// Path confinement: every log the daemon touches lies under one root directory.
//
// RPC paths are relative to the root ("qemu/vm1.log"), or absolute but inside it
// ("/var/log/logwarden/qemu/vm1.log", as libvirt passes them). A `..` component, an absolute
// path elsewhere, and a symlink in ANY component (directories and the file itself) are refused.
// Node has no openat(), so the walk opens each directory through its parent's descriptor as
// /proc/self/fd/N/NAME with O_NOFOLLOW|O_DIRECTORY: that resolves NAME inside the directory
// the fd already holds, so swapping a component for a symlink mid-walk cannot redirect it.
import { closeSync, constants, lstatSync, mkdirSync, openSync, realpathSync } from 'node:fs';
import { LwError, type ErrorCode } from '@logwarden/core/errors';

type PathErrorCode = Extract<ErrorCode, `LW_ERR_PATH_${string}`>;

// libuv adds O_CLOEXEC to every open.
const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW } = constants;
const DIR_FLAGS = O_RDONLY | O_DIRECTORY | O_NOFOLLOW;
const MAX_PATH_BYTES = 4096;
const MAX_NAME_BYTES = 255;

/** A log path after confinement: `rel` is its canonical name, `dirFd` holds its (verified) directory. */
export interface ConfinedPath {
  rel: string;
  name: string;
  dirFd: number;
  /** Path that reaches the file through `dirFd`: immune to later changes of the components above. */
  fdPath: string;
}

export class LogRoot {
  readonly dir: string;
  readonly #configured: string;

  /** Creates the root if missing (mode 0755), then pins it by its real path. */
  constructor(dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    this.#configured = dir.replace(/\/+$/, '') || '/';
    this.dir = realpathSync(dir);
  }

  /** Lexical checks only: returns the canonical relative path or throws LW_ERR_PATH_*. */
  normalize(input: unknown): string {
    if (typeof input !== 'string') throw pathError('LW_ERR_PATH_INVALID', 'path must be a string', input);
    if (input === '' || input.includes('\0') || Buffer.byteLength(input) > MAX_PATH_BYTES) {
      throw pathError('LW_ERR_PATH_INVALID', 'path is empty, too long or contains NUL', input);
    }
    let rest = input;
    if (input.startsWith('/')) {
      const inside = [this.dir, this.#configured].find((root) => input.startsWith(`${root}/`));
      if (inside === undefined) throw pathError('LW_ERR_PATH_OUTSIDE_ROOT', 'absolute path is outside the log root', input);
      rest = input.slice(inside.length + 1);
    }
    const raw = rest.split('/');
    const last = raw[raw.length - 1];
    // "dir/" and "dir/." name a directory, never a log file.
    if (last === '' || last === '.') throw pathError('LW_ERR_PATH_INVALID', 'path does not name a file', input);
    const parts: string[] = [];
    for (const part of raw) {
      if (part === '' || part === '.') continue;
      if (part === '..') throw pathError('LW_ERR_PATH_OUTSIDE_ROOT', "'..' is not allowed in a log path", input);
      if (Buffer.byteLength(part) > MAX_NAME_BYTES) throw pathError('LW_ERR_PATH_INVALID', 'path component too long', input);
      parts.push(part);
    }
    return parts.join('/');
  }

  /**
   * Walks to the directory of `input`, refusing symlinks on the way, and checks the final
   * name is not a symlink nor anything but a regular file (it may not exist yet). With
   * `create`, missing directories are made (0755). The caller closes `dirFd`.
   */
  confine(input: unknown, opts: { create: boolean }): ConfinedPath {
    const rel = this.normalize(input);
    const parts = rel.split('/');
    const name = parts.pop() ?? rel;
    let dirFd = openSync(this.dir, DIR_FLAGS);
    try {
      for (const part of parts) {
        const next = openDirAt(dirFd, part, opts.create, rel);
        closeSync(dirFd);
        dirFd = next;
      }
      const fdPath = `/proc/self/fd/${dirFd}/${name}`;
      checkFinal(fdPath, rel);
      return { rel, name, dirFd, fdPath };
    } catch (err) {
      closeSync(dirFd);
      throw err;
    }
  }

  /** Absolute path of a canonical relative path (for messages and listings only). */
  absolute(rel: string): string {
    return `${this.dir}/${rel}`;
  }
}

function openDirAt(dirFd: number, name: string, create: boolean, rel: string): number {
  const path = `/proc/self/fd/${dirFd}/${name}`;
  for (;;) {
    try {
      return openSync(path, DIR_FLAGS);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ELOOP') throw pathError('LW_ERR_PATH_SYMLINK', 'a directory in the path is a symlink', rel);
      if (code === 'ENOTDIR') {
        // O_NOFOLLOW|O_DIRECTORY on a symlink may report ENOTDIR: tell the two apart.
        if (lstatSync(path, { throwIfNoEntry: false })?.isSymbolicLink() === true) {
          throw pathError('LW_ERR_PATH_SYMLINK', 'a directory in the path is a symlink', rel);
        }
        throw pathError('LW_ERR_PATH_NOT_REGULAR', 'a directory in the path is not a directory', rel);
      }
      if (code === 'ENOENT' && create) {
        try {
          mkdirSync(path, { mode: 0o755 });
        } catch (mkErr) {
          // Lost a race with another creator: the open above decides what it is.
          if ((mkErr as NodeJS.ErrnoException).code !== 'EEXIST') throw mkErr;
        }
        continue;
      }
      if (code === 'ENOENT') throw new LwError('LW_ERR_LOG_NOT_FOUND', 'no such log', { path: rel });
      throw err;
    }
  }
}

function checkFinal(fdPath: string, rel: string): void {
  const st = lstatSync(fdPath, { throwIfNoEntry: false });
  if (st === undefined || st.isFile()) return;
  if (st.isSymbolicLink()) throw pathError('LW_ERR_PATH_SYMLINK', 'the log file is a symlink', rel);
  throw pathError('LW_ERR_PATH_NOT_REGULAR', 'the log path is not a regular file', rel);
}

function pathError(code: PathErrorCode, message: string, path: unknown): LwError {
  return new LwError(code, message, { path: typeof path === 'string' ? path : null });
}
