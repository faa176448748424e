// `logwardend --check-upgrade`: the new image's side of the upgrade canary (canary.ts). Reaching
// this module proves main.ts, resume.ts and lifecycle.ts load; the rest checks what the new image
// would refuse at take-over: the state (a sealed memfd on stdin, framed and decoded exactly as the
// real hand-over reads LOGWARDEN_UPGRADE_STATE) and the configuration. Nothing is opened or bound.
import { loadConfig, type ConfigFlags } from '../config.js';
import { readStateRecord } from '../systemd/state-record.js';
import { decodeState, STATE_VERSION } from './state.js';

/** Throws (a coded error) what the new image would fail on; returns a one-line summary otherwise. */
export function checkUpgrade(flags: ConfigFlags, stateFd = 0): string {
  const state = decodeState(readStateRecord(stateFd));
  const config = loadConfig(flags);
  return `state version ${STATE_VERSION}, ${state.logs.length} logs, log root ${config.logRoot}`;
}
