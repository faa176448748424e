// ENOSPC on a real, small file system: a 1 MiB tmpfs mounted in a private mount namespace
// (unshare --mount, so nothing leaks to the host). Needs root and unshare: outside CI it skips
// without them (the reason in its title); under CI=true their absence fails it.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { here, tempDir, testNeeding } from './helpers.js';

const fixture = path.join(here, 'fixtures', 'enospc-writer.js');

function unavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root';
  const probe = spawnSync('unshare', ['--mount', '--propagation', 'private', 'true'], { encoding: 'latin1' });
  if (probe.error !== undefined) return `no unshare (${probe.error.message})`;
  if (probe.status !== 0) return `unshare --mount fails: ${probe.stderr.trim()}`;
  return undefined;
}

interface Report {
  threw: boolean;
  accepted: number[];
  whileFull: { bytesWritten: number; bytesDropped: number; markers: number };
  resumed: number;
  final: { bytesWritten: number; bytesDropped: number; markers: number; pending: number };
  sizes: Record<string, number>;
  chain: string;
}

const title = 'ENOSPC on a real 1 MiB tmpfs: writes are dropped and counted, then one marker line records them';

testNeeding(title, unavailable(), async (t) => {
  const dir = tempDir(t);
  const script = 'mount -t tmpfs -o size=1m lw-enospc "$1" && exec "$2" "$3" "$1"';
  const child = spawn('unshare', ['--mount', '--propagation', 'private', '/bin/sh', '-c', script, 'sh', dir, process.execPath, fixture], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  t.is(code, 0);
  t.deepEqual(fs.readdirSync(dir), [], 'the tmpfs lived only in the private namespace');
  const r = JSON.parse(out) as Report;

  t.false(r.threw, 'write() never throws on ENOSPC');
  const offered = r.accepted.length * 100;
  const acceptedBytes = r.accepted.reduce((a, b) => a + b, 0);
  t.true(r.whileFull.bytesDropped >= 50_000, 'the disk filled up');
  t.is(r.whileFull.bytesWritten, acceptedBytes);
  t.is(acceptedBytes + r.whileFull.bytesDropped, offered, 'every byte is written or counted as dropped');
  t.is(r.whileFull.markers, 0);

  t.is(r.resumed, 24, 'writing works again once there is room');
  t.like(r.final, { bytesDropped: r.whileFull.bytesDropped, markers: 1, pending: 0 });
  for (const [name, size] of Object.entries(r.sizes)) {
    if (name.startsWith('log')) t.true(size <= 128 * 1024, `${name} ${size}`);
  }

  // The chain is what was accepted (no backup was dropped on a disk this small), one marker, the new line.
  const accepted = Buffer.concat(r.accepted.map((n) => Buffer.from(`${'x'.repeat(99)}\n`).subarray(0, n)));
  const lead = accepted.at(-1) === 0x0a ? '' : '\n';
  const marker = `${lead}[logwarden: dropped ${r.whileFull.bytesDropped} bytes: ENOSPC]\n`;
  const chain = Buffer.from(r.chain, 'base64').toString('latin1');
  t.is(chain, accepted.toString('latin1') + marker + 'the disk has room again\n');
  t.is(chain.split('[logwarden: dropped').length, 2, 'exactly one marker');
});
