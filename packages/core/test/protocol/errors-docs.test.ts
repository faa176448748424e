import test from 'ava';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ERROR_CODES, LwError, isErrorCode, type ErrorCode } from '../../src/protocol/index.js';

// dist/test/protocol -> package root
const docPath = fileURLToPath(new URL('../../../docs/errors.md', import.meta.url));

function documented(): Map<string, boolean | null> {
  const text = readFileSync(docPath, 'utf8');
  const out = new Map<string, boolean | null>();
  const sections = text.split(/^### /m).slice(1);
  for (const section of sections) {
    const code = section.slice(0, section.indexOf('\n')).trim();
    const m = /^Retryable: (yes|no)\./m.exec(section);
    out.set(code, m === null ? null : m[1] === 'yes');
  }
  return out;
}

test('every registered code is documented with the same retryable', (t) => {
  const docs = documented();
  for (const [code, spec] of Object.entries(ERROR_CODES)) {
    t.true(docs.has(code), `${code} missing from docs/errors.md`);
    t.is(docs.get(code), spec.retryable, `${code}: docs say retryable=${String(docs.get(code))}`);
  }
});

test('every documented code is registered', (t) => {
  for (const code of documented().keys()) t.true(isErrorCode(code), `${code} documented but not in ERROR_CODES`);
});

test('codes follow LW_ERR_<AREA>_<WHAT> and have a message', (t) => {
  for (const [code, spec] of Object.entries(ERROR_CODES)) {
    t.regex(code, /^LW_ERR_[A-Z]+(_[A-Z]+)*$/);
    t.true(spec.message.length > 0);
  }
});

test('LwError carries the registry defaults and survives the wire', (t) => {
  const err = new LwError('LW_ERR_RPC_TIMEOUT', undefined, { ms: 5 });
  t.is(err.message, ERROR_CODES.LW_ERR_RPC_TIMEOUT.message);
  t.true(err.retryable);
  t.true(err instanceof Error);
  const back = LwError.fromWire(err.toWire());
  t.is(back.code, 'LW_ERR_RPC_TIMEOUT');
  t.deepEqual(back.data, { ms: 5 });
  t.true(back.retryable);
});

test('an unknown code from a newer peer becomes LW_ERR_INTERNAL keeping the original', (t) => {
  const back = LwError.fromWire({ code: 'LW_ERR_FUTURE_THING', message: 'new' });
  const code: ErrorCode = back.code;
  t.is(code, 'LW_ERR_INTERNAL');
  t.deepEqual(back.data, { code: 'LW_ERR_FUTURE_THING', data: undefined });
  t.regex(back.message, /LW_ERR_FUTURE_THING: new/);
});

// Every LW_ERR_ code written anywhere in the sources of any package must be in the registry (and so,
// by the tests above, documented): one registry for the whole tree.
const repoPackages = fileURLToPath(new URL('../../../../', import.meta.url));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' || e.name === 'dist' ? [] : sourceFiles(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

test('every LW_ERR_ code used in packages/*/src is registered', (t) => {
  const unknown = new Set<string>();
  let files = 0;
  for (const pkg of readdirSync(repoPackages)) {
    const src = join(repoPackages, pkg, 'src');
    if (!existsSync(src)) continue;
    for (const file of sourceFiles(src)) {
      files++;
      // A code ends at a non-code character; `LW_ERR_PATH_${...}` (a prefix in a type) is not a code.
      for (const m of readFileSync(file, 'utf8').matchAll(/LW_ERR_[A-Z0-9_]*[A-Z0-9](?![A-Z0-9_$])/g)) {
        if (!isErrorCode(m[0])) unknown.add(`${m[0]} (${file.slice(repoPackages.length)})`);
      }
    }
  }
  t.true(files > 10, 'the scan found the sources');
  t.deepEqual([...unknown], []);
});
