// The one place that loads the compiled addon.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export interface RawBinding {
  pipe(): [number, number];
}

export const binding = require('../../../build/Release/logwarden_core.node') as RawBinding;
