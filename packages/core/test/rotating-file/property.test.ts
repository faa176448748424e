// Property: for any sizes and contents of writes, the files read oldest to newest are exactly the
// tail of everything written, no file exceeds maxSize, and a cut that could fall after a newline does.
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import fc from 'fast-check';
import { RotatingFileReader, RotatingFileWriter, START } from '../../src/rotating-file/index.js';
import { chainContent, tempDir } from './helpers.js';

// Bytes that are newlines often enough for cuts to have a choice, NUL included.
const byte = fc.oneof(fc.constant(0x0a), fc.constant(0), fc.integer({ min: 0, max: 255 }));
const chunk = fc.array(byte, { maxLength: 300 }).map((a) => Buffer.from(a));

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
        const files = [base, ...Array.from({ length: maxBackups }, (_, i) => `${base}.${i + firstBackupIndex}`)];
        for (const f of files) {
          if (fs.existsSync(f) && fs.statSync(f).size > maxSize) return false;
        }
        // A backup ended early only right after a newline.
        for (const f of files.slice(1)) {
          if (!fs.existsSync(f)) continue;
          const content = fs.readFileSync(f);
          if (content.length < maxSize && content.at(-1) !== 0x0a) return false;
        }
        // Nothing is dropped before every backup slot is in use.
        const full = files.slice(1).every((f) => fs.existsSync(f));
        if (!full && kept.length !== all.length) return false;
        fs.rmSync(dir, { recursive: true });
        return true;
      },
    ),
    { numRuns: 150 },
  );
  t.pass();
});
