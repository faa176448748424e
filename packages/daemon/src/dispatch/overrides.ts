// Per-log maxSize/maxBackups arriving over RPC: the protocol checked their types, the daemon
// checks them against the same bounds as its configuration file.
import { LwError } from '@logwarden/core/protocol';
import { BOUNDS } from '../config.js';

export function checkOverrides(args: { maxSize?: number | undefined; maxBackups?: number | undefined }): void {
  for (const field of ['maxSize', 'maxBackups'] as const) {
    const value = args[field];
    if (value === undefined) continue;
    const { min, max } = BOUNDS[field];
    if (value < min || value > max) {
      throw new LwError('LW_ERR_PROTO_BAD_ARGS', `invalid argument ${field}: out of range ${min}..${max}`, { field });
    }
  }
}
