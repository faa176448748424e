// Socket paths of the servers.
import { lstatSync, rmSync } from 'node:fs';

/** journald unlinks whatever socket sits at its path before binding; we replace a socket, never another file. */
export function removeStaleSocket(path: string): void {
  try {
    if (lstatSync(path).isSocket()) rmSync(path, { force: true });
  } catch {
    // Nothing there.
  }
}
