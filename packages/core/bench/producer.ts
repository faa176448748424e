// Bench producer: writes BYTES bytes of 128-byte log lines to stdout (a blocking pipe), as fast as
// the reader takes them. Lines are built once; the producer's own cost is the write syscalls.
import fs from 'node:fs';

const LINE = 128;
const total = Number(process.argv[2]);
if (!Number.isSafeInteger(total) || total <= 0 || total % LINE !== 0) {
  console.error(`usage: producer BYTES (a positive multiple of ${LINE})`);
  process.exit(2);
}

const batch = Buffer.alloc(8192 * LINE);
for (let i = 0; i < 8192; i++) {
  const text = `${String(i).padStart(6, '0')} guest console: the quick brown fox jumps over the lazy dog `;
  batch.write(text.padEnd(LINE - 1, '.'), i * LINE, 'latin1');
  batch[i * LINE + LINE - 1] = 0x0a;
}

let left = total;
while (left > 0) {
  const n = Math.min(left, batch.length);
  let off = 0;
  while (off < n) off += fs.writeSync(1, batch, off, n - off);
  left -= n;
}
