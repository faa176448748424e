// Runs a child whose stdout and stderr go straight into a daemon-held log pipe.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { close } from '@logwarden/core/native';
import type { CallArgs, WirePosition } from '@logwarden/core/protocol';
import type { LogwardenClient } from './client.js';

export interface SpawnLoggedOptions {
  client: LogwardenClient;
  /** openLog arguments: where the output goes. */
  log: CallArgs<'openLog'>;
  /** Anything spawn() takes except stdio; stdin defaults to 'ignore'. */
  spawn?: Omit<SpawnOptions, 'stdio'> & { stdin?: 'ignore' | 'inherit' | 'pipe' };
}

export interface SpawnedLogged {
  child: ChildProcess;
  /** The log's position when the child started: its output begins here. */
  position: WirePosition;
}

/**
 * Spawns `command` with stdout+stderr on the log's pipe and closes our copy of the pipe, so the log
 * sees EOF once the child (and anything it forked) is gone. Spawn failures (ENOENT...) arrive as the
 * child's 'error' event, as with spawn().
 */
export async function spawnLogged(command: string, args: readonly string[], opts: SpawnLoggedOptions): Promise<SpawnedLogged> {
  const { fd, position } = await opts.client.openLog(opts.log);
  const { stdin = 'ignore', ...spawnOpts } = opts.spawn ?? {};
  try {
    const child = spawn(command, args, { ...spawnOpts, stdio: [stdin, fd, fd] });
    return { child, position };
  } finally {
    close(fd);
  }
}
