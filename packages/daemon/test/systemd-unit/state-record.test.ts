import { writeSync } from 'node:fs';

import test from 'ava';

import { addSeals, close, getSeals, memfdCreate, pipe, SEAL } from '@logwarden/core/native';

import { createStateRecord, Notifier, readStateRecord, storeStateRecord } from '../../src/systemd/index.js';
import { NotifySink } from './helpers.js';

const ALL = SEAL.SHRINK | SEAL.GROW | SEAL.WRITE | SEAL.SEAL;

test('a record is a fully sealed memfd that reads back byte for byte', (t) => {
  for (const payload of [Buffer.alloc(0), Buffer.from('{"logs":[]}'), Buffer.from(Array.from({ length: 100_000 }, (_, i) => i % 251))]) {
    const fd = createStateRecord(payload);
    try {
      t.is(getSeals(fd) & ALL, ALL);
      t.throws(() => writeSync(fd, Buffer.from('x'), 0, 1, 0), { code: 'EPERM' }, 'the record cannot change');
      t.deepEqual(readStateRecord(fd), payload);
      t.deepEqual(readStateRecord(fd), payload, 'reading does not depend on the file offset');
    } finally {
      close(fd);
    }
  }
});

function sealedMemfd(bytes: Buffer): number {
  const fd = memfdCreate('forged');
  writeSync(fd, bytes, 0, bytes.length, 0);
  addSeals(fd, ALL);
  return fd;
}

test('anything but an intact sealed record is rejected with a coded error', (t) => {
  const bytes = Buffer.alloc(12 + 7);
  Buffer.from('LWSR').copy(bytes, 0);
  bytes.writeUInt32LE(7, 4);
  bytes.writeUInt32LE(0xdeadbeef, 8);
  Buffer.from('payload').copy(bytes, 12);

  const cases: [string, () => number][] = [
    ['bad checksum', () => sealedMemfd(bytes)],
    ['bad magic', () => sealedMemfd(Buffer.concat([Buffer.from('XXXX'), bytes.subarray(4)]))],
    ['short', () => sealedMemfd(bytes.subarray(0, 8))],
    ['length mismatch', () => {
      const b = Buffer.from(bytes);
      b.writeUInt32LE(6, 4);
      return sealedMemfd(b);
    }],
    ['not sealed', () => memfdCreate('open')],
    ['not a memfd', () => {
      const p = pipe();
      close(p.writeFd);
      return p.readFd;
    }],
  ];
  for (const [what, make] of cases) {
    const fd = make();
    try {
      t.throws(() => readStateRecord(fd), { code: 'LW_ERR_SYSTEMD_STATE_INVALID' }, what);
    } finally {
      close(fd);
    }
  }
});

test('storeStateRecord replaces the record under its name in the fd store', async (t) => {
  const sink = new NotifySink();
  const n = new Notifier(sink.address);
  try {
    await storeStateRecord(n, 'state', Buffer.from('generation 7'));
    t.deepEqual(await sink.next(), { text: 'FDSTOREREMOVE=1\nFDNAME=state', fds: [] });
    const stored = await sink.next();
    t.is(stored.text, 'FDSTORE=1\nFDNAME=state\nFDPOLL=0');
    t.is(stored.fds.length, 1);
    t.is(readStateRecord(stored.fds[0] ?? -1).toString(), 'generation 7');
    for (const fd of stored.fds) close(fd);
  } finally {
    n.close();
    sink.close();
  }
});
