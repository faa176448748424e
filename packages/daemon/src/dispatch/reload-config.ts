import type { HandlerOutput } from '@logwarden/core/protocol';
import type { DispatchContext } from './context.js';

/** Same as SIGHUP; a bad file is reported to the caller and the running configuration stays. */
export async function reloadConfig(d: DispatchContext): Promise<HandlerOutput<'reloadConfig'>> {
  await d.reload();
  return { result: {} };
}
