import { readFileSync } from 'node:fs';
import test from 'ava';
import { JOURNAL_ERROR_CODES } from '../../src/journal/index.js';

test('every journal error code is documented in src/journal/README.md and nothing else is', (t) => {
  const readme = readFileSync(new URL('../../../src/journal/README.md', import.meta.url), 'utf8');
  const documented = new Set(readme.match(/LW_ERR_JOURNAL_[A-Z_]+/g) ?? []);
  t.deepEqual([...documented].sort(), Object.keys(JOURNAL_ERROR_CODES).sort());
});
