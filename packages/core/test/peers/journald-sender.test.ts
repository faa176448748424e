// JournalClient's sender thread against the real systemd-journald: a burst larger than journald's
// socket queue arrives whole and in order, entries that waited together shared datagrams (journald
// reads each as several entries, with one receive timestamp), and journald keeps every field.
import { randomBytes } from 'node:crypto';
import { JournalClient, fieldText } from '../../src/journal/index.js';
import { readJsonLines } from './harness/entries.js';
import { JOURNALD_NEEDS, peerTest, sharedJournald, waitFor } from './harness/peers.js';

const jd = sharedJournald();

peerTest('a burst through the sender thread: journald stores every entry once, in order, several per datagram', JOURNALD_NEEDS, async (t) => {
  const marker = randomBytes(8).toString('hex');
  const client = new JournalClient({ path: jd().socket });
  client.open();
  t.teardown(() => {
    client.close();
  });
  const n = 5000;
  await Promise.all(
    Array.from({ length: n }, (_, i) =>
      client.send({ LWTEST: marker, SEQ: String(i), MESSAGE: `burst ${i}`, MULTI: i % 100 === 0 ? 'two\nlines' : 'one line' }),
    ),
  );
  t.is(client.stats.sent, n);
  t.true(client.stats.waits > 0, 'journald made the client wait');
  const got = await waitFor(`${n} entries`, async () => {
    const entries = readJsonLines(await jd().journalctl(['-o', 'json', '--all', `LWTEST=${marker}`]));
    return entries.length >= n ? entries : undefined;
  });
  t.is(got.length, n);
  t.deepEqual(
    got.map((e) => fieldText(e.fields, 'SEQ')),
    Array.from({ length: n }, (_, i) => String(i)),
  );
  t.true(got.every((e, i) => fieldText(e.fields, 'MESSAGE') === `burst ${i}` && fieldText(e.fields, 'MULTI') === (i % 100 === 0 ? 'two\nlines' : 'one line')));
  t.true(got.every((e) => fieldText(e.fields, '_PID') === String(process.pid) && fieldText(e.fields, '_TRANSPORT') === 'journal'));
  // Entries of one datagram share journald's receive timestamp.
  const stamps = new Set(got.map((e) => fieldText(e.fields, '__REALTIME_TIMESTAMP')));
  t.true(stamps.size < n / 2, `${n} entries, ${stamps.size} receive timestamps`);
});

peerTest('shareDatagrams: false (one datagram per entry): journald stores every entry, in order', JOURNALD_NEEDS, async (t) => {
  const marker = randomBytes(8).toString('hex');
  const client = new JournalClient({ path: jd().socket, shareDatagrams: false });
  client.open();
  t.teardown(() => {
    client.close();
  });
  const n = 1000;
  await Promise.all(Array.from({ length: n }, (_, i) => client.send({ LWTEST: marker, SEQ: String(i), MESSAGE: `alone ${i}` })));
  const got = await waitFor(`${n} entries`, async () => {
    const entries = readJsonLines(await jd().journalctl(['-o', 'json', `LWTEST=${marker}`]));
    return entries.length >= n ? entries : undefined;
  });
  t.deepEqual(
    got.map((e) => fieldText(e.fields, 'SEQ')),
    Array.from({ length: n }, (_, i) => String(i)),
  );
  t.is(client.stats.sent, n);
});
