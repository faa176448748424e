// Property: for any sizes and contents of writes, the files read oldest to newest are exactly the
// tail of everything written, no file exceeds maxSize, and a cut that could fall after a newline does;
// for write(), for writeFromPipe() (a real pipe, tee + splice) and for the daemon's path, the same
// split in beginPipeMove()/finishPipeMove() with the splice on libuv's threadpool.
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import fc from 'fast-check';
import { close, pipe, spliceToFile, write } from '../../src/native/index.js';
import { PipeScratch, RotatingFileReader, RotatingFileWriter, START } from '../../src/rotating-file/index.js';
import type { Position } from '../../src/rotating-file/index.js';
import { chainContent, tempDir } from './helpers.js';

// Bytes that are newlines often enough for cuts to have a choice, NUL included.
const byte = fc.oneof(fc.constant(0x0a), fc.constant(0), fc.integer({ min: 0, max: 255 }));
const chunk = fc.array(byte, { maxLength: 300 }).map((a) => Buffer.from(a));

/**
 * The chain's shape: no file over maxSize, a backup ended early only right after a newline, and
 * nothing dropped before every backup slot is in use.
 */
function chainShapeHolds(
  base: string,
  opts: { maxSize: number; maxBackups: number; firstBackupIndex: 0 | 1 },
  keptBytes: number,
  writtenBytes: number,
): boolean {
  const files = [base, ...Array.from({ length: opts.maxBackups }, (_, i) => `${base}.${i + opts.firstBackupIndex}`)];
  for (const f of files) {
    if (fs.existsSync(f) && fs.statSync(f).size > opts.maxSize) return false;
  }
  for (const f of files.slice(1)) {
    if (!fs.existsSync(f)) continue;
    const content = fs.readFileSync(f);
    if (content.length < opts.maxSize && content.at(-1) !== 0x0a) return false;
  }
  const full = files.slice(1).every((f) => fs.existsSync(f));
  return full || keptBytes === writtenBytes;
}

test('the chain always holds the tail of what was written, no file over maxSize', (t) => {
  const root = tempDir(t);
  let run = 0;
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 200 }),
      fc.integer({ min: 0, max: 4 }),
      fc.constantFrom<0 | 1>(0, 1),
      fc.array(chunk, { maxLength: 40 }),
      (maxSize, maxBackups, firstBackupIndex, writes) => {
        const dir = path.join(root, String(run++));
        fs.mkdirSync(dir);
        const base = path.join(dir, 'log');
        const opts = { maxSize, maxBackups, firstBackupIndex };
        const w = RotatingFileWriter.open(base, opts);
        for (const data of writes) {
          if (w.write(data) !== data.length) return false;
        }
        w.close();
        const all = Buffer.concat(writes);
        const kept = chainContent(base, maxBackups, firstBackupIndex);
        if (!kept.equals(all.subarray(all.length - kept.length))) return false;
        if (!new RotatingFileReader(base, opts).read(START, all.length + 1).data.equals(kept)) return false;
        if (!chainShapeHolds(base, { maxSize, maxBackups, firstBackupIndex }, kept.length, all.length)) return false;
        fs.rmSync(dir, { recursive: true });
        return true;
      },
    ),
    { numRuns: 150 },
  );
  t.pass();
});

/** One drain step of a writer from a pipe: bytes consumed, null when empty, 0 at EOF. */
type Step = (w: RotatingFileWriter, pipeFd: number, scratch: PipeScratch) => Promise<number | null>;

/** Both halves of a pipe move, the splice on libuv's threadpool, as the daemon runs them. */
const moveStep: Step = async (w, pipeFd, scratch) => {
  const move = w.beginPipeMove(pipeFd, scratch);
  if (move === null || typeof move === 'number') return move;
  return w.finishPipeMove(move, await spliceToFile(pipeFd, move.fd, move.length, move.offset), pipeFd, scratch);
};

/**
 * True once a drained pipe whose write end we closed reads EOF. Not always at once: a child that
 * another test's thread forks meanwhile holds a copy of every fd until its exec closes them.
 */
async function reachesEof(next: () => Promise<number | null>): Promise<boolean> {
  for (let i = 0; i < 1000; i++) {
    const r = await next();
    if (r === 0) return true;
    if (r !== null) return false;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return false;
}

async function pipeInvariantsHold(t: ExecutionContext, step: Step, numRuns: number): Promise<void> {
  const root = tempDir(t);
  let run = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 200 }),
      fc.integer({ min: 0, max: 4 }),
      fc.constantFrom<0 | 1>(0, 1),
      // Small windows take the splice-only path far from the limit, large ones tee nearly every byte.
      fc.integer({ min: 1, max: 300 }),
      // Batches of chunks written into the pipe before the writer drains it.
      fc.array(fc.array(chunk, { minLength: 1, maxLength: 5 }), { maxLength: 25 }),
      async (maxSize, maxBackups, firstBackupIndex, window, batches) => {
        const dir = path.join(root, `pipe-${run++}`);
        fs.mkdirSync(dir);
        const base = path.join(dir, 'log');
        const opts = { maxSize, maxBackups, firstBackupIndex };
        const w = RotatingFileWriter.open(base, opts);
        const scratch = PipeScratch.create({ window });
        const p = pipe({ size: 64 * 1024 });
        const positions: Position[] = [w.position];
        const sent: Buffer[] = [];
        let total = 0;
        try {
          for (const batch of batches) {
            for (const data of batch) {
              if (data.length > 0 && write(p.writeFd, data) !== data.length) return false;
              sent.push(data);
              total += data.length;
            }
            for (;;) {
              const n = await step(w, p.readFd, scratch);
              positions.push(w.position);
              if (n === null) break;
              if (n <= 0) return false;
            }
            if (w.position.offset !== total || w.stats.bytesDropped !== 0) return false;
          }
          close(p.writeFd);
          if (!(await reachesEof(() => step(w, p.readFd, scratch)))) return false;
        } finally {
          w.close();
          scratch.close();
          close(p.readFd);
        }
        for (let i = 1; i < positions.length; i++) {
          if ((positions[i] as Position).offset < (positions[i - 1] as Position).offset) return false;
        }
        const all = Buffer.concat(sent);
        const kept = chainContent(base, maxBackups, firstBackupIndex);
        if (!kept.equals(all.subarray(all.length - kept.length))) return false;
        const reader = new RotatingFileReader(base, opts);
        // Every position the writer reported reads as exactly the rest of the stream, minus a gap.
        for (const pos of positions.slice(1)) {
          const r = reader.read(pos, all.length + 1);
          if (r.gap < 0 || r.gap + r.data.length !== all.length - pos.offset) return false;
          if (!r.data.equals(all.subarray(all.length - r.data.length))) return false;
        }
        if (!chainShapeHolds(base, { maxSize, maxBackups, firstBackupIndex }, kept.length, all.length)) return false;
        fs.rmSync(dir, { recursive: true });
        return true;
      },
    ),
    { numRuns },
  );
  t.pass();
}

test('writeFromPipe: the same invariants for random chunks through a real pipe, positions exact and monotonic', async (t) => {
  await pipeInvariantsHold(t, (w, fd, scratch) => Promise.resolve(w.writeFromPipe(fd, scratch)), 120);
});

test('beginPipeMove/finishPipeMove with the splice on the threadpool: the same invariants', async (t) => {
  await pipeInvariantsHold(t, moveStep, 80);
});
