// Where the daemon listens unless told otherwise.
import { join } from 'node:path';

/** The daemon's embedded default state directory is ./var; its socket lives in var/run. */
export const DEFAULT_SOCKET_PATH = join('var', 'run', 'logwardend.sock');

export function defaultSocketPath(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.LOGWARDEN_SOCKET;
  return fromEnv !== undefined && fromEnv !== '' ? fromEnv : `./${DEFAULT_SOCKET_PATH}`;
}
