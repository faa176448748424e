// Entries at a chain's names that are not the chain's own regular files: symlinks, hard links to
// files elsewhere, FIFOs, directories. A root daemon confines the directory; these tests check that
// inside it nothing is followed: no byte outside the directory is read or written, every refusal
// is coded, and logging goes on where it can.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { RotatingFileReader, RotatingFileWriter, START } from '../../src/rotating-file/index.js';
import { chainContent, here, listDir, tempDir } from './helpers.js';

const UNSAFE = 'LW_ERR_ROTATING_FILE_UNSAFE_MEMBER';
const SECRET = 'root:secret:0:0\n';
const fixture = path.join(here, 'fixtures', 'hostile-child.js');

interface Setup {
  dir: string;
  base: string;
  victim: string;
  /** Fails the test unless the victim outside the directory is exactly as created. */
  intact: () => void;
}

function setup(t: ExecutionContext): Setup {
  const dir = tempDir(t);
  const outside = tempDir(t);
  const victim = path.join(outside, 'victim');
  fs.writeFileSync(victim, SECRET, { mode: 0o644 });
  return {
    dir,
    base: path.join(dir, 'log'),
    victim,
    intact: () => {
      const st = fs.lstatSync(victim);
      t.true(st.isFile(), 'the victim is still a regular file');
      t.is(st.nlink, 1, 'and has its one name back');
      t.is(fs.readFileSync(victim, 'latin1'), SECRET, 'the file outside the directory is untouched');
    },
  };
}

function readAll(base: string, maxBackups = 3): string {
  return new RotatingFileReader(base, { maxBackups }).read(START, 1 << 20).data.toString('latin1');
}

test('a symlinked base is refused with a coded error and never read or written through', (t) => {
  const s = setup(t);
  fs.symlinkSync(s.victim, s.base);
  t.throws(() => RotatingFileWriter.open(s.base), { code: UNSAFE });
  t.throws(() => RotatingFileWriter.open(s.base, { truncate: true }), { code: UNSAFE });
  t.is(readAll(s.base), '', 'the reader skips it');
  t.true(fs.lstatSync(s.base).isSymbolicLink(), 'the caller named it: it is left alone');
  s.intact();
});

test('a hard link to a file elsewhere is refused as the base and never read as a backup', (t) => {
  const s = setup(t);
  fs.linkSync(s.victim, s.base);
  t.throws(() => RotatingFileWriter.open(s.base), { code: UNSAFE });
  t.is(readAll(s.base), '');
  fs.unlinkSync(s.base);

  fs.writeFileSync(s.base, 'mine\n');
  fs.linkSync(s.victim, `${s.base}.0`);
  t.is(readAll(s.base), 'mine\n');
  const w = RotatingFileWriter.open(s.base, { maxSize: 10, maxBackups: 3 });
  t.false(fs.existsSync(`${s.base}.0`), 'the foreign name is removed, not the file it names');
  w.write(Buffer.from('0123456789abcdef\n'));
  w.close();
  t.is(readAll(s.base), 'mine\n0123456789abcdef\n');
  s.intact();
});

test('a symlinked backup is never read; the writer removes the link, never its target', (t) => {
  const s = setup(t);
  fs.writeFileSync(s.base, 'mine\n');
  fs.symlinkSync(s.victim, `${s.base}.0`);
  fs.symlinkSync(path.join(path.dirname(s.victim), 'nothing'), `${s.base}.1`);
  const r = new RotatingFileReader(s.base, { maxBackups: 3 });
  t.is(r.read(START, 1000).data.toString('latin1'), 'mine\n', 'like `cat --from 0:0`');
  t.is(r.read({ inode: 0n, offset: 0 }, 1000).data.toString('latin1'), 'mine\n');

  const w = RotatingFileWriter.open(s.base, { maxSize: 10, maxBackups: 3 });
  t.deepEqual(listDir(s.dir), ['.log.chain', 'log']);
  let all = 'mine\n';
  for (let i = 0; i < 10; i++) {
    const line = `line ${i}\n`;
    t.is(w.write(Buffer.from(line)), line.length);
    all += line;
  }
  w.close();
  const kept = chainContent(s.base, 3).toString('latin1');
  t.true(kept.length >= 31 && all.endsWith(kept), 'four files of the stream, nothing else');
  s.intact();
});

test('a symlinked index is neither read nor appended to (append to a new log, as the CLI does)', (t) => {
  const s = setup(t);
  const v = path.join(s.dir, 'v.log');
  fs.symlinkSync(s.victim, path.join(s.dir, '.v.log.chain'));
  t.is(readAll(v), '');
  const w = RotatingFileWriter.open(v);
  t.is(w.write(Buffer.from('hello\n')), 6);
  w.close();
  t.false(fs.lstatSync(path.join(s.dir, '.v.log.chain')).isSymbolicLink());
  t.is(fs.readFileSync(v, 'latin1'), 'hello\n');
  s.intact();
});

test('temp names planted as symlinks while the writer runs are never written through', (t) => {
  const s = setup(t);
  const w = RotatingFileWriter.open(s.base, { maxSize: 10, maxBackups: 2 });
  w.write(Buffer.from('0123456789'));
  fs.symlinkSync(s.victim, path.join(s.dir, '.log.new'));
  fs.symlinkSync(s.victim, path.join(s.dir, '.log.chain.tmp'));
  // 70 rotations: the new base is prepared each time, the index rewritten after 64 appends.
  t.is(w.write(Buffer.alloc(700, 0x61)), 700);
  t.is(w.stats.rotations, 70);
  t.deepEqual(listDir(s.dir), ['.log.chain', 'log', 'log.0', 'log.1']);
  t.is(readAll(s.base, 2), 'a'.repeat(30));
  w.close();
  s.intact();
});

test('a base swapped for a symlink while open: rotation replaces the link, no reader follows it', (t) => {
  const s = setup(t);
  const w = RotatingFileWriter.open(s.base, { maxSize: 10, maxBackups: 2 });
  w.write(Buffer.from('abcdefghij'));
  fs.unlinkSync(s.base);
  fs.symlinkSync(s.victim, s.base);
  t.is(readAll(s.base, 2), '');
  t.is(w.write(Buffer.from('klmnopqrst')), 10);
  t.false(fs.lstatSync(s.base).isSymbolicLink(), 'the new base took the name');
  t.true(fs.lstatSync(`${s.base}.0`).isSymbolicLink(), 'the link was moved like the base it stood for');
  t.is(readAll(s.base, 2), 'klmnopqrst', 'and is skipped');
  w.close();
  const again = RotatingFileWriter.open(s.base, { maxSize: 10, maxBackups: 2 });
  again.close();
  t.deepEqual(listDir(s.dir), ['.log.chain', 'log']);
  s.intact();
});

test('a directory at a backup or hidden name is refused with a coded error, its content untouched', (t) => {
  const s = setup(t);
  // log.3 is a slot beyond maxBackups (a shrunk config): recovery would have to remove it.
  for (const name of ['log.1', 'log.3', '.log.chain', '.log.new', '.log.chain.tmp']) {
    const sub = fs.mkdtempSync(path.join(s.dir, 'case-'));
    const base = path.join(sub, 'log');
    fs.writeFileSync(base, 'mine\n');
    fs.writeFileSync(`${base}.0`, 'zero\n');
    fs.writeFileSync(`${base}.2`, 'two\n');
    const d = path.join(sub, name);
    fs.mkdirSync(d);
    fs.writeFileSync(path.join(d, 'keep'), 'kept');
    t.throws(() => RotatingFileWriter.open(base, { maxBackups: 3 }), { code: UNSAFE }, name);
    t.is(fs.readFileSync(path.join(d, 'keep'), 'latin1'), 'kept');
    t.is(readAll(base), 'two\nzero\nmine\n', `${name}: the reader skips it`);
    fs.rmSync(d, { recursive: true });
    RotatingFileWriter.open(base, { maxBackups: 3 }).close();
    t.is(readAll(base), 'two\nzero\nmine\n', `${name}: once it is gone, the chain opens`);
  }
  s.intact();
});

test('a directory appearing while the writer runs: drops counted, nothing thrown, logging resumes', (t) => {
  const s = setup(t);
  const w = RotatingFileWriter.open(s.base, { maxSize: 100, maxBackups: 1 });
  const full = `${'f'.repeat(99)}\n`;
  t.is(w.write(Buffer.from(full)), 100);
  fs.mkdirSync(`${s.base}.0`);
  fs.writeFileSync(path.join(`${s.base}.0`, 'keep'), 'kept');
  t.is(w.write(Buffer.from('lost\n')), 0, 'the rotation cannot drop the directory');
  t.is(w.write(Buffer.from('lost\n')), 0, 'and the recovery before the next write refuses it');
  t.like(w.stats, { bytesDropped: 10, pendingDropped: 10 });
  t.is(fs.readFileSync(path.join(`${s.base}.0`, 'keep'), 'latin1'), 'kept');
  fs.rmSync(`${s.base}.0`, { recursive: true });
  t.is(w.write(Buffer.from('back\n')), 5);
  w.close();
  t.is(fs.readFileSync(s.base, 'latin1'), `[logwarden: dropped 10 bytes: EISDIR,${UNSAFE}]\nback\n`);
  t.is(fs.readFileSync(`${s.base}.0`, 'latin1'), full);
  s.intact();
});

// A FIFO at a chain name must not block: each case runs in a child that is killed if it hangs.
const fifoCases = ['reader-backup', 'reader-index', 'writer-backup', 'writer-index', 'writer-new', 'writer-base'] as const;
for (const scenario of fifoCases) {
  test(`a FIFO as ${scenario.replace('-', ': ')} never blocks and is never read or written`, (t) => {
    const dir = tempDir(t);
    const child = spawnSync(process.execPath, [fixture, dir, scenario], { encoding: 'utf8', timeout: 30_000 });
    t.is(child.error, undefined, `the child finished (${child.error?.message ?? ''})`);
    t.is(child.status, 0, child.stderr);
    const r = JSON.parse(child.stdout) as { outcome: string; content: string; fifoBytes: number };
    t.is(r.fifoBytes, 0, 'nothing was written into the FIFO');
    if (scenario === 'writer-base') {
      t.is(r.outcome, UNSAFE);
    } else {
      t.is(r.outcome, 'ok');
      t.is(r.content, scenario.startsWith('reader') ? 'mine\n' : 'mine\nmore\n');
    }
  });
}
