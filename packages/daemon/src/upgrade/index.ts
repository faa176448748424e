// In-place upgrade (re-exec) and crash recovery through systemd's fd store.
export { Upgrader, installUpgrade, type UpgradeCall, type UpgradeHooks, type UpgradeRunner } from './upgrader.js';
export { fromFdStore, restoreInherited, type Inherited } from './inherit.js';
export { FdStoreSync, RECORD_PERIOD_MS } from './fd-store.js';
export { canaryPlan, planReexec, reexec, UPGRADE_EXEC_ENV, type ExecPlan } from './reexec.js';
export { CANARY_TIMEOUT_MS, CHECK_UPGRADE_FLAG, runCanary } from './canary.js';
export { checkUpgrade } from './check.js';
export { resume, type Resumed } from './resume.js';
export {
  decodeState, encodeState, LOG_FD_KIND, preciseNow, STATE_FD_NAME, STATE_VERSION, UPGRADE_STATE_ENV,
  type CarriedConnection, type CarriedMirror, type DaemonState,
} from './state.js';
