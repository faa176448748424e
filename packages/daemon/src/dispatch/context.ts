// What the stateless dispatch functions may use of the daemon: they hold no state of their own.
import type { DaemonJournal } from '../journal/index.js';
import type { LogHandler } from '../log-handler.js';
import type { Logger } from '../logger.js';
import type { UpgradeCall } from '../upgrade/index.js';

export interface DispatchContext {
  readonly handler: LogHandler;
  /** Journal mirrors (openLog's MIRROR_JOURNAL flag); absent where no journal integration runs. */
  readonly journal?: DaemonJournal;
  readonly logger: Logger;
  readonly uptimeMs: number;
  readonly upgrades: number;
  reload(): Promise<void>;
  upgrade(call?: UpgradeCall): Promise<void>;
}
