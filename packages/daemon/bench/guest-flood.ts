// A flooding guest: writes BYTES bytes of 128-byte lines to fd 1 (the log pipe) in 64 KiB writes,
// blocking when the pipe is full, like a guest console under a log storm. usage: guest-flood.js BYTES
import { writeSync } from 'node:fs';

const total = Number(process.argv[2]);
const line = Buffer.from(`${'0123456789abcdefghijklmnopqrstuvwxyz'.repeat(4).slice(0, 127)}\n`);
const chunk = Buffer.concat(Array.from({ length: 512 }, () => line));
let sent = 0;
while (sent < total) {
  const n = Math.min(chunk.length, total - sent);
  sent += writeSync(1, chunk, 0, n);
}
