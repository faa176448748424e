// logwarden's export-format writer -> systemd-journal-remote -> journal file -> journalctl:
// the same entries come back, as JSON and as export format.
import { randomBytes } from 'node:crypto';
import { ExportReader, fieldText, formatExportEntry, type JournalField } from '../../src/journal/index.js';
import { tempDir } from '../journal/helpers.js';
import { fieldSet, readJsonLines } from './harness/entries.js';
import { peerTest, run } from './harness/peers.js';

const NEEDS = { bins: ['/lib/systemd/systemd-journal-remote', 'journalctl'] };
const F = (name: string, v: string | Buffer): JournalField => ({ name, value: Buffer.from(v) });
// journal-remote keeps the dunder fields as entry metadata (timestamps) rather than as fields.
const stored = (fields: readonly JournalField[]): string[] => fieldSet(fields.filter((f) => !f.name.startsWith('__')));

peerTest('export writer -> systemd-journal-remote -> journalctl -o json / -o export give the same entries', NEEDS, async (t) => {
  const tmp = tempDir();
  t.teardown(tmp.cleanup);
  const bootId = randomBytes(16).toString('hex');
  const big = randomBytes(1024 * 1024);
  const entries: JournalField[][] = [
    [
      F('__REALTIME_TIMESTAMP', '1700000000000001'),
      F('__MONOTONIC_TIMESTAMP', '1000'),
      F('_BOOT_ID', bootId),
      F('MESSAGE', 'first'),
      F('_PID', '4242'),
      F('MULTI', 'a\nb\n'),
      F('BIN', Buffer.from([0, 1, 0xff, 0x0a, 0x3d])),
      F('UNICODE', 'żółw ✓'),
      F('REPEAT', 'a'),
      F('REPEAT', 'b'),
      F('EMPTY', ''),
    ],
    [F('__REALTIME_TIMESTAMP', '1700000000000002'), F('__MONOTONIC_TIMESTAMP', '2000'), F('_BOOT_ID', bootId), F('MESSAGE', 'big'), F('DATA', big)],
    [F('__REALTIME_TIMESTAMP', '1700000000000003'), F('__MONOTONIC_TIMESTAMP', '3000'), F('_BOOT_ID', bootId), F('MESSAGE', 'x'.repeat(100_000))],
  ];
  const stream = Buffer.concat(entries.map((e) => formatExportEntry(e)));
  const out = tmp.path('out.journal');
  const r = await run('/lib/systemd/systemd-journal-remote', ['-o', out, '-'], { input: stream });
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /writing 3 entries/);

  const files = `${tmp.dir}/out*.journal`;
  const json = await run('journalctl', ['--file', files, '--no-pager', '-o', 'json', '--all']);
  t.is(json.code, 0, json.stderr);
  const back = readJsonLines(json.stdout);
  t.is(back.length, entries.length);
  for (const [i, e] of entries.entries()) {
    const b = back[i];
    if (!b) return t.fail();
    t.deepEqual(stored(b.fields), stored(e), `entry ${i}`);
    t.is(fieldText(b.fields, '__REALTIME_TIMESTAMP'), fieldText(e, '__REALTIME_TIMESTAMP'));
    t.is(fieldText(b.fields, '__MONOTONIC_TIMESTAMP'), fieldText(e, '__MONOTONIC_TIMESTAMP'));
  }

  const exp = await run('journalctl', ['--file', files, '--no-pager', '-o', 'export']);
  t.is(exp.code, 0, exp.stderr);
  const reader = new ExportReader();
  const fromExport = [...reader.push(exp.stdout), ...reader.end()];
  t.deepEqual(
    fromExport.map((e) => stored(e)),
    entries.map((e) => stored(e)),
  );
});
