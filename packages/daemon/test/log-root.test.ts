import test, { type ExecutionContext } from 'ava';
import { closeSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LwError, type ErrorCode } from '@logwarden/core/protocol';
import { LogRoot } from '../src/log-root.js';

function setup(t: ExecutionContext): { base: string; root: LogRoot } {
  const base = mkdtempSync(join(tmpdir(), 'lw-root-'));
  t.teardown(() => {
    rmSync(base, { recursive: true, force: true });
  });
  return { base, root: new LogRoot(join(base, 'log')) };
}

function refused(t: ExecutionContext, fn: () => unknown, code: ErrorCode): void {
  const err = t.throws(fn, { instanceOf: LwError });
  t.is(err.code, code);
}

test('the root is created and pinned by its real path', (t) => {
  const { base, root } = setup(t);
  t.is(root.dir, join(base, 'log'));
  symlinkSync(join(base, 'log'), join(base, 'alias'));
  const viaAlias = new LogRoot(join(base, 'alias'));
  t.is(viaAlias.dir, join(base, 'log'));
  // An absolute path may name the root as configured or as it really is.
  t.is(viaAlias.normalize(join(base, 'alias/a.log')), 'a.log');
  t.is(viaAlias.normalize(join(base, 'log/a.log')), 'a.log');
});

test('normalize: relative paths are canonicalised', (t) => {
  const { root } = setup(t);
  t.is(root.normalize('vm1.log'), 'vm1.log');
  t.is(root.normalize('./qemu//vm1.log'), 'qemu/vm1.log');
  t.is(root.normalize(`${root.dir}/qemu/./vm1.log`), 'qemu/vm1.log');
});

test('normalize: .. and absolute paths elsewhere are outside the root', (t) => {
  const { base, root } = setup(t);
  for (const p of ['../x', 'a/../../x', 'a/..', '..', '/etc/passwd', `${base}/other/x.log`, `${root.dir}x/a.log`, root.dir]) {
    refused(t, () => root.normalize(p), 'LW_ERR_PATH_OUTSIDE_ROOT');
  }
});

test('normalize: malformed paths are invalid', (t) => {
  const { root } = setup(t);
  for (const p of ['', '.', 'a/', 'a/.', 'a\0b', 'x'.repeat(256), 'a/'.repeat(2100) + 'b', 5, null, { path: 'a' }]) {
    refused(t, () => root.normalize(p), 'LW_ERR_PATH_INVALID');
  }
});

test('confine creates missing directories only when asked', (t) => {
  const { root } = setup(t);
  refused(t, () => root.confine('qemu/deep/vm1.log', { create: false }), 'LW_ERR_LOG_NOT_FOUND');
  const c = root.confine('qemu/deep/vm1.log', { create: true });
  t.teardown(() => {
    closeSync(c.dirFd);
  });
  t.is(c.rel, 'qemu/deep/vm1.log');
  t.is(c.name, 'vm1.log');
  // The fd path reaches the real directory.
  writeFileSync(c.fdPath, 'hello');
  t.is(readFileSync(join(root.dir, 'qemu/deep/vm1.log'), 'utf8'), 'hello');
});

test('a symlinked directory component is refused, wherever it points', (t) => {
  const { base, root } = setup(t);
  mkdirSync(join(root.dir, 'real'));
  mkdirSync(join(base, 'outside'));
  symlinkSync(join(root.dir, 'real'), join(root.dir, 'inner-link'));
  symlinkSync(join(base, 'outside'), join(root.dir, 'outer-link'));
  symlinkSync('../outside', join(root.dir, 'real/rel-link'));
  for (const p of ['inner-link/a.log', 'outer-link/a.log', 'real/rel-link/a.log']) {
    refused(t, () => root.confine(p, { create: true }), 'LW_ERR_PATH_SYMLINK');
  }
  t.deepEqual(readdirSync(join(base, 'outside')), []);
});

test('a symlinked final file is refused, even a dangling one', (t) => {
  const { base, root } = setup(t);
  writeFileSync(join(base, 'secret'), 'x');
  symlinkSync(join(base, 'secret'), join(root.dir, 'a.log'));
  symlinkSync(join(base, 'nothing'), join(root.dir, 'b.log'));
  refused(t, () => root.confine('a.log', { create: true }), 'LW_ERR_PATH_SYMLINK');
  refused(t, () => root.confine('b.log', { create: true }), 'LW_ERR_PATH_SYMLINK');
});

test('non-regular files and files used as directories are refused', (t) => {
  const { root } = setup(t);
  mkdirSync(join(root.dir, 'dir.log'));
  writeFileSync(join(root.dir, 'file'), '');
  refused(t, () => root.confine('dir.log', { create: true }), 'LW_ERR_PATH_NOT_REGULAR');
  refused(t, () => root.confine('file/a.log', { create: true }), 'LW_ERR_PATH_NOT_REGULAR');
});

test('refusals leak no file descriptors', (t) => {
  const { base, root } = setup(t);
  mkdirSync(join(root.dir, 'a/b'), { recursive: true });
  symlinkSync(base, join(root.dir, 'a/b/link'));
  // Count only fds into this test's directories: worker threads share the process's fd table, so
  // other test files open and close fds meanwhile.
  const fdsInto = (dir: string): number =>
    readdirSync('/proc/self/fd').filter((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`).startsWith(dir);
      } catch {
        return false; // closed between listing and reading
      }
    }).length;
  const before = fdsInto(base);
  for (let i = 0; i < 50; i++) {
    t.throws(() => root.confine('a/b/link/x.log', { create: true }));
    t.throws(() => root.confine('a/missing/x.log', { create: false }));
  }
  t.is(fdsInto(base), before);
});
