// Control signals that arrive while the daemon starts (caught by main.ts's first statement) are
// acted on once it runs: SIGHUP reloads, SIGTERM stops cleanly, SIGUSR1 is folded into the start.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { exited, tempDir } from '../helpers.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/early-signals.js', import.meta.url));

test('SIGHUP, SIGUSR1 and SIGTERM noted during start-up: reload, folded, clean stop', async (t) => {
  const dir = tempDir(t);
  const config = join(dir, 'logwardend.toml');
  writeFileSync(config, 'log_level = "info"\n');
  const child = spawn(process.execPath, [FIXTURE, '--state-dir', join(dir, 'state'), '--config', config], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, EARLY_SIGNALS: 'SIGHUP,SIGUSR1,SIGTERM' },
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => {
    stderr += s;
  });
  t.deepEqual(await exited(child), { code: 0, signal: null }, stderr);
  t.regex(stderr, /configuration reloaded/);
  t.regex(stderr, /SIGUSR1 during start-up: folded into it/);
  t.regex(stderr, /stopping reason=SIGTERM/);
  t.regex(stderr, /logwardend stopped/);
  t.notRegex(stderr, /upgrade: re-executing/);
});
