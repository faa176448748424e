// logwarden's native client and parser against the real systemd-journald and journalctl.
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import {
  ExportReader,
  JournalClient,
  encodeNativeEntry,
  fieldText,
  formatJsonEntry,
  parseJsonEntry,
  parseNativeMessage,
  type JournalField,
  type JsonEntry,
} from '../../src/journal/index.js';
import { close, sendmsg, socket } from '../../src/native/index.js';
import { brief, fieldSet, readJsonLines, userSet, value } from './harness/entries.js';
import { JOURNALD_NEEDS, peerTest, sharedJournald, waitFor } from './harness/peers.js';

const jd = sharedJournald();

/** Entries matching journalctl matches, read back as JSON (--all: no value replaced by null). */
async function query(matches: string[], n: number): Promise<JsonEntry[]> {
  return waitFor(`${n} entries for ${matches.join(' ')}`, async () => {
    const got = readJsonLines(await jd().journalctl(['-o', 'json', '--all', ...matches]));
    return got.length >= n ? got : undefined;
  });
}

const F = (name: string, v: string | Buffer): JournalField => ({ name, value: Buffer.from(v) });

peerTest('JournalClient -> journald -> journalctl -o json: every field byte-exact, 1 MB and 9 MB (memfd) entries', JOURNALD_NEEDS, async (t) => {
  const marker = randomBytes(8).toString('hex');
  const client = new JournalClient({ path: jd().socket });
  client.open();
  t.teardown(() => {
    client.close();
  });
  const oneMb = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < oneMb.length; i++) oneMb[i] = (i * 31 + (i >> 11)) & 0xff;
  const nineMb = Buffer.alloc(9 * 1024 * 1024, 'abcdefghij');
  const sent: JournalField[][] = [
    [
      F('LWTEST', marker),
      F('SEQ', '0'),
      F('MESSAGE', 'plain text'),
      F('MULTI', 'line one\nline two\n'),
      F('NUL', 'a\0b'),
      F('NONUTF8', Buffer.from([0xff, 0xfe, 0x00, 0x0a, 0x80, 0xc3])),
      F('EQUALS', 'k=v=w'),
      F('EMPTY', ''),
      F('UNICODE', 'héllo wörld ✓ 😀'),
      F('TAB', 'a\tb'),
      F('REPEAT', 'one'),
      F('REPEAT', 'two'),
      F('REPEAT', 'three'),
    ],
    [F('LWTEST', marker), F('SEQ', '1'), F('MESSAGE', 'one megabyte'), F('DATA', oneMb)],
    [F('LWTEST', marker), F('SEQ', '2'), F('MESSAGE', 'nine megabytes'), F('DATA', nineMb)],
  ];
  for (const e of sent) await client.send(e);
  await client.sendPieces([Buffer.from('LWTEST='), Buffer.from(marker), Buffer.from('SEQ='), Buffer.from('3'), Buffer.from('MESSAGE='), Buffer.from('pie\nces')]);
  sent.push([F('LWTEST', marker), F('SEQ', '3'), F('MESSAGE', 'pie\nces')]);
  t.is(client.stats.viaMemfd, 1, 'the 9 MB entry went as a memfd');
  t.is(client.stats.sent, 4);

  const got = await query([`LWTEST=${marker}`], sent.length);
  t.is(got.length, sent.length);
  const bySeq = new Map(got.map((e) => [fieldText(e.fields, 'SEQ'), e]));
  for (const [i, e] of sent.entries()) {
    const back = bySeq.get(String(i));
    if (!back) return t.fail(`entry ${i} missing`);
    t.deepEqual(brief(userSet(back.fields)), brief(userSet(e)), `entry ${i}`);
    t.deepEqual(userSet(back.fields), userSet(e), `entry ${i} bytes`);
    t.is(fieldText(back.fields, '_TRANSPORT'), 'journal');
    t.is(fieldText(back.fields, '_PID'), String(process.pid));
    t.deepEqual(back.truncated, []);
  }
  t.true(value(bySeq.get('2')?.fields ?? [], 'DATA')?.equals(nineMb));
});

// Tokens for payloads journald and our parser must agree on. Names avoid OBJECT_PID (journald adds
// OBJECT_* fields for root senders) and LWMARK (the separator below).
const NAMES = ['MESSAGE', 'A', 'B_2', 'X'.repeat(64), 'X'.repeat(65), 'a', '_T', '9Z', 'MÉ', ''];
const le = (n: number): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
};
const token = fc.oneof(
  fc.tuple(fc.constantFrom(...NAMES), fc.string({ maxLength: 12 })).map(([n, v]) => Buffer.from(`${n}=${v.replace(/\n/g, '')}\n`)),
  fc.tuple(fc.constantFrom(...NAMES), fc.uint8Array({ maxLength: 12 })).map(([n, v]) => Buffer.concat([Buffer.from(`${n}\n`), le(v.length), v, Buffer.from('\n')])),
  fc.tuple(fc.constantFrom(...NAMES), fc.uint8Array({ maxLength: 12 }), fc.integer({ min: -3, max: 40 })).map(([n, v, d]) =>
    Buffer.concat([Buffer.from(`${n}\n`), le(Math.max(0, v.length + d)), v, Buffer.from('\n')]),
  ),
  fc.constantFrom(Buffer.from('\n'), Buffer.from('#comment\n'), Buffer.from('.control\n'), Buffer.from('A=x'), Buffer.from('NOEQ\n'), Buffer.from('=v\n')),
  fc.uint8Array({ maxLength: 10 }).map((a) => Buffer.from(a)),
);
const payload = fc.array(token, { minLength: 1, maxLength: 10 }).map((parts) => Buffer.concat(parts));

const CORPUS: Buffer[] = [
  Buffer.from('A=1\nB=2'),
  Buffer.from('A=1\n\nB=2\n\nC=3\n'),
  Buffer.from('\nA=1\n'),
  Buffer.from('#x\nA=1\n.y\nB=2\n'),
  Buffer.from('a=1\n_P=2\n1X=3\n=4\nB=5\n'),
  Buffer.from('A=b=c\0d\n'),
  Buffer.from('A=\nB=x\n'),
  Buffer.concat([Buffer.from('A\n'), le(3), Buffer.from('x\ny\n')]),
  Buffer.concat([Buffer.from('B=1\nA\n'), le(30), Buffer.from('xy\n')]),
  Buffer.concat([Buffer.from('B=1\nA\n'), le(2), Buffer.from('xyz')]),
  Buffer.concat([Buffer.from('B=1\nA\n'), Buffer.alloc(8, 0xff), Buffer.from('x\n')]),
  Buffer.concat([Buffer.from('a\n'), le(1), Buffer.from('x\nB=1\n')]),
  Buffer.from(Array.from({ length: 1025 }, (_, i) => `F${i}=${i}\n`).join('')),
  Buffer.from(Array.from({ length: 1026 }, (_, i) => `F${i}=${i}\n`).join('') + '\nAFTER=1\n'),
  Buffer.from(Array.from({ length: 1025 }, (_, i) => `F${i}=${i}\n`).join('') + 'bad name=1\n'.repeat(5) + '\nNEXT=1\n'),
];

peerTest('native parser agrees with journald on a corpus and 150 generated payloads (garbage included)', JOURNALD_NEEDS, async (t) => {
  const payloads = [...CORPUS, ...fc.sample(payload, { numRuns: 150, seed: 4242 })];
  const marker = randomBytes(8).toString('hex');
  const sock = socket('dgram');
  t.teardown(() => {
    close(sock);
  });
  // Raw datagrams on an unconnected socket: when journald's queue is full, wait and resend.
  const send = async (pieces: Uint8Array[]): Promise<void> => {
    while (sendmsg(sock, pieces, { path: jd().socket }) === null) await new Promise((r) => setTimeout(r, 2));
  };
  // Each payload follows a separator entry, so journald's entries can be attributed to payloads.
  for (const [i, p] of payloads.entries()) {
    await send(encodeNativeEntry({ LWMARK: marker, LWSEQ: String(i) }).pieces);
    if (p.length > 0) await send([p]);
  }
  await send(encodeNativeEntry({ LWMARK: marker, LWSEQ: 'end' }).pieces);
  await query([`LWMARK=${marker}`, `LWSEQ=end`], 1);
  const all = readJsonLines(await jd().journalctl(['-o', 'json', '--all', `_PID=${process.pid}`, '_TRANSPORT=journal']));
  const journaldSays: string[][][] = payloads.map(() => []);
  let current = -1;
  for (const e of all) {
    if (fieldText(e.fields, 'LWMARK') === marker) {
      const seq = fieldText(e.fields, 'LWSEQ') ?? '';
      current = seq === 'end' ? -1 : Number(seq);
      continue;
    }
    if (current >= 0) journaldSays[current]?.push(userSet(e.fields));
  }
  let agreed = 0;
  for (const [i, p] of payloads.entries()) {
    const ours = parseNativeMessage(p).entries.map((fields) => userSet(fields));
    t.deepEqual(ours, journaldSays[i], `payload ${i}: ${JSON.stringify(p.toString('latin1').slice(0, 120))}`);
    if (JSON.stringify(ours) === JSON.stringify(journaldSays[i])) agreed++;
  }
  t.is(agreed, payloads.length);
  // Not vacuous: many payloads made entries, many were partly or wholly refused.
  const productive = journaldSays.filter((e) => e.length > 0).length;
  t.log(`${productive} of ${payloads.length} payloads made entries in journald`);
  t.true(productive > 40 && productive < payloads.length - 20);
  t.is(journaldSays[12]?.[0]?.length, 1025, 'journald keeps 1025 fields');
  t.deepEqual(journaldSays[13], [], 'and drops an entry of 1026 together with the rest of the datagram');
});

peerTest('journalctl -o export and -o json of the real journal read back as the same entries', JOURNALD_NEEDS, async (t) => {
  const marker = randomBytes(8).toString('hex');
  const client = new JournalClient({ path: jd().socket });
  client.open();
  t.teardown(() => {
    client.close();
  });
  const big = Buffer.alloc(300_000, 0x41);
  await client.send({ LWTEST: marker, MESSAGE: 'export me', BIN: Buffer.from([1, 2, 0, 0xff]), NL: 'x\ny', BIG: big });
  await client.send({ LWTEST: marker, MESSAGE: 'second', REPEAT: ['a', 'b'] });
  const json = await query([`LWTEST=${marker}`], 2);
  const exported = await jd().journalctl(['-o', 'export', `LWTEST=${marker}`]);
  const reader = new ExportReader();
  // Fed in odd-sized chunks, as a pipe would deliver it.
  const fromExport: JournalField[][] = [];
  for (let i = 0; i < exported.length; i += 7777) fromExport.push(...reader.push(exported.subarray(i, i + 7777)));
  fromExport.push(...reader.end());
  t.is(fromExport.length, 2);
  const byCursor = new Map(json.map((e) => [fieldText(e.fields, '__CURSOR'), e]));
  for (const e of fromExport) {
    const j = byCursor.get(fieldText(e, '__CURSOR'));
    if (!j) return t.fail('export entry without a JSON twin');
    t.deepEqual(fieldSet(e), fieldSet(j.fields));
  }
  t.true(fromExport.some((e) => value(e, 'BIG')?.equals(big)));
});

peerTest('formatJsonEntry replaces the same large values by null as journalctl (without --all)', JOURNALD_NEEDS, async (t) => {
  const marker = randomBytes(8).toString('hex');
  const client = new JournalClient({ path: jd().socket });
  client.open();
  t.teardown(() => {
    client.close();
  });
  // NAME=VALUE of 4095 bytes stays, 4096 becomes null; binary values too.
  const sent = [
    F('LWTEST', marker),
    F('FITS', 'x'.repeat(4095 - 5)),
    F('NULLED', 'y'.repeat(4096 - 7)),
    F('BINFITS', Buffer.alloc(4095 - 8, 0)),
    F('BINNULL', Buffer.alloc(4096 - 8, 1)),
    F('SMALL', 'ok'),
  ];
  await client.send(sent);
  await query([`LWTEST=${marker}`], 1);
  const [line] = (await jd().journalctl(['-o', 'json', `LWTEST=${marker}`])).toString('latin1').split('\n');
  const theirs = parseJsonEntry(Buffer.from(line ?? '', 'latin1'));
  const ours = parseJsonEntry(formatJsonEntry(sent));
  t.deepEqual([...theirs.truncated].sort(), ['BINNULL', 'NULLED']);
  t.deepEqual([...ours.truncated].sort(), [...theirs.truncated].sort());
  t.deepEqual(userSet(ours.fields), userSet(theirs.fields));
});
