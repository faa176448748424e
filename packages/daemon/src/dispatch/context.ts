// What the stateless dispatch functions may use of the daemon: they hold no state of their own.
import type { LogHandler } from '../log-handler.js';
import type { Logger } from '../logger.js';
import type { UpgradeCall } from '../upgrade/index.js';

export interface DispatchContext {
  readonly handler: LogHandler;
  readonly logger: Logger;
  readonly uptimeMs: number;
  readonly upgrades: number;
  reload(): Promise<void>;
  upgrade(call?: UpgradeCall): Promise<void>;
}
