#!/usr/bin/env node
// logwardend's entry point. It has no static imports, because an ES module runs its first statement
// only once every static import is loaded, and that first statement must catch the control signals:
// until then SIGHUP, SIGTERM and SIGINT end the process and SIGUSR1 opens Node's inspector (a second
// upgrade request during a re-exec). After a re-exec or a crash it then takes the guests' pipes back
// (upgrade/resume.ts) before loading anything else (lifecycle.ts): the guests wait for Node's own
// start-up plus that one module, not for the whole daemon (docs/benchmarks.md, upgrade section).
import type { ControlSignal } from './lifecycle.js';
import type { Resumed } from './upgrade/resume.js';

const signals: ControlSignal[] = [];
const trap = (signal: NodeJS.Signals): void => {
  signals.push(signal as ControlSignal);
};
// The same list as lifecycle.ts's CONTROL_SIGNALS, which cannot be imported this early.
for (const signal of ['SIGUSR1', 'SIGHUP', 'SIGTERM', 'SIGINT'] as const) process.on(signal, trap);

const { resume } = await import('./upgrade/resume.js');
let resumed: Resumed | Error | null;
try {
  resumed = await resume();
} catch (err) {
  resumed = err instanceof Error ? err : new Error(String(err));
}
const { run } = await import('./lifecycle.js');
process.exitCode = await run({ signals, trap, resumed });
