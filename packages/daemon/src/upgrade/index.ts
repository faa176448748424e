// In-place upgrade (re-exec) and crash recovery through systemd's fd store.
export { Upgrader, installUpgrade, type UpgradeCall, type UpgradeHooks, type UpgradeRunner } from './upgrader.js';
export { restoreInherited, takeInherited, type Inherited } from './inherit.js';
export { FdStoreSync, LOG_FD_KIND, RECORD_PERIOD_MS, STATE_FD_NAME } from './fd-store.js';
export { planReexec, reexec, UPGRADE_EXEC_ENV, type ExecPlan } from './reexec.js';
export { resumeAfterExec, type Resumed } from './resume.js';
export { decodeState, encodeState, STATE_VERSION, UPGRADE_STATE_ENV, type CarriedConnection, type CarriedMirror, type DaemonState } from './state.js';
