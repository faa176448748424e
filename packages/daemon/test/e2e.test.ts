// End to end: the real daemon process, a real client, guest stand-ins that write through the pipe
// fd the daemon handed out, and the files on disk.
import test from 'ava';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { POSITION_START, type WirePosition } from '@logwarden/core/protocol';
import { pattern } from './fixtures/pattern.js';
import { domain, exited, spawnDaemon, spawnWriter, until } from './helpers.js';
import type { RpcClient } from '@logwarden/core/protocol';

async function readAll(client: RpcClient, path: string, from: WirePosition, to: WirePosition): Promise<{ data: Buffer; gaps: number }> {
  const pieces: Buffer[] = [];
  let pos = from;
  let gaps = 0;
  for (;;) {
    const { result } = await client.call('read', { path, position: pos, maxLen: 1024 * 1024 });
    pieces.push(Buffer.from(result.data));
    gaps += result.gap;
    pos = result.position;
    if (result.data.length === 0 || (pos.inode === to.inode && pos.offset === to.offset)) break;
  }
  return { data: Buffer.concat(pieces), gaps };
}

test('a child writes through the pipe fd; read returns every byte across rotations', async (t) => {
  const d = await spawnDaemon(t);
  const client = await d.connect();
  t.teardown(() => { client.close(); });
  const total = 3 * 1024 * 1024;
  const open = await client.call('openLog', { driver: 'qemu', domain, path: 'qemu/vm1.log', maxSize: 64 * 1024, maxBackups: 100 });
  t.is(open.fds.length, 1);
  const writer = spawnWriter(open.fds[0] as number, total, 1);
  t.deepEqual(await exited(writer), { code: 0, signal: null });

  const end = (await client.call('getPosition', { path: 'qemu/vm1.log' })).result.position;
  const { data, gaps } = await readAll(client, 'qemu/vm1.log', POSITION_START, end);
  t.is(gaps, 0);
  t.is(data.length, total);
  t.true(data.equals(pattern(total, 1)), 'bytes differ');

  // On disk: every file within maxSize, the chain rotated many times.
  const dir = join(d.logRoot, 'qemu');
  const files = readdirSync(dir).filter((f) => f.startsWith('vm1.log'));
  t.true(files.length > 40, `only ${files.length} files`);
  for (const f of files) t.true(statSync(join(dir, f)).size <= 64 * 1024, f);
  t.is(statSync(join(dir, 'vm1.log.0')).mode & 0o777, 0o600);
});

test('follow streams every byte while a child floods the pipe, across rotations', async (t) => {
  const d = await spawnDaemon(t);
  const client = await d.connect();
  t.teardown(() => { client.close(); });
  const total = 2 * 1024 * 1024;
  const path = 'follow.log';
  const open = await client.call('openLog', { driver: 'qemu', domain, path, maxSize: 64 * 1024, maxBackups: 60 });
  const stream = client.follow({ path, position: open.result.position });
  const writer = spawnWriter(open.fds[0] as number, total, 2);
  const pieces: Buffer[] = [];
  let got = 0;
  let gaps = 0;
  for await (const ev of stream) {
    pieces.push(Buffer.from(ev.data));
    got += ev.data.length;
    gaps += ev.gap;
    if (got >= total) break;
  }
  t.deepEqual(await exited(writer), { code: 0, signal: null });
  t.is(gaps, 0);
  t.true(Buffer.concat(pieces).equals(pattern(total, 2)), 'followed bytes differ');
});

test('a position taken before rotations reads the same bytes after them', async (t) => {
  const d = await spawnDaemon(t);
  const client = await d.connect();
  t.teardown(() => { client.close(); });
  const path = 'pos.log';
  const first = Buffer.from('first line\n');
  const before = (await client.call('append', { driver: 'qemu', domain, path, data: first, maxSize: 8192, maxBackups: 20 })).result.position;
  const open = await client.call('openLog', { driver: 'qemu', domain, path, maxSize: 8192, maxBackups: 20 });
  t.deepEqual(open.result.position, before);
  const total = 60 * 1024;
  t.deepEqual(await exited(spawnWriter(open.fds[0] as number, total, 3)), { code: 0, signal: null });
  const end = (await client.call('getPosition', { path })).result.position;
  t.not(end.inode, before.inode, 'the file rotated');
  const { data, gaps } = await readAll(client, path, before, end);
  t.is(gaps, 0);
  t.true(data.equals(pattern(total, 3)));
  // And from the very start: the appended line first.
  const all = await readAll(client, path, POSITION_START, end);
  t.true(all.data.equals(Buffer.concat([first, pattern(total, 3)])));
});

test('bytes rotated away are reported as a gap, not silently skipped', async (t) => {
  const d = await spawnDaemon(t);
  const client = await d.connect();
  t.teardown(() => { client.close(); });
  const path = 'gap.log';
  const open = await client.call('openLog', { driver: 'qemu', domain, path, maxSize: 8192, maxBackups: 1 });
  const start = open.result.position;
  t.deepEqual(await exited(spawnWriter(open.fds[0] as number, 100 * 1024, 4)), { code: 0, signal: null });
  const end = (await client.call('getPosition', { path })).result.position;
  const { data, gaps } = await readAll(client, path, start, end);
  t.true(gaps > 0);
  t.is(gaps + data.length, 100 * 1024);
  t.true(data.equals(pattern(100 * 1024, 4).subarray(gaps)));
});

test('EOF of the last writer closes the log cleanly; the counters add up', async (t) => {
  const d = await spawnDaemon(t);
  const client = await d.connect();
  t.teardown(() => { client.close(); });
  const open = await client.call('openLog', { driver: 'lxc', domain: null, path: 'eof.log' });
  const total = 200 * 1024;
  t.deepEqual(await exited(spawnWriter(open.fds[0] as number, total, 5)), { code: 0, signal: null });
  await until(async () => {
    const { result } = await client.call('list', {});
    return result.logs.some((l) => l.path === 'eof.log' && !l.open);
  }, 'the log to close');
  const { result } = await client.call('stats', { path: 'eof.log' });
  t.true(result.uptimeMs > 0);
  t.like(result.logs[0], { path: 'eof.log', driver: 'lxc', domain: null, open: false, bytesIn: total, bytesWritten: total, bytesDropped: 0 });
  // Closed: reading still works, from the files.
  const end = (await client.call('getPosition', { path: 'eof.log' })).result.position;
  t.is(end.offset, total);
});

test('SIGTERM stops the daemon cleanly: logs written out, socket removed, exit 0', async (t) => {
  const d = await spawnDaemon(t);
  const client = await d.connect();
  const open = await client.call('openLog', { driver: 'qemu', domain, path: 'stop.log' });
  // The writer blocks on a full pipe; the daemon must write what the pipe holds before it exits.
  const writer = spawnWriter(open.fds[0] as number, 50 * 1024, 6);
  t.deepEqual(await exited(writer), { code: 0, signal: null });
  client.close();
  t.deepEqual(await d.stop(), { code: 0, signal: null });
  t.is(statSync(join(d.logRoot, 'stop.log')).size, 50 * 1024);
  t.throws(() => statSync(d.socketPath), { code: 'ENOENT' });
  t.regex(d.stderr(), /logwardend stopped/);
});
