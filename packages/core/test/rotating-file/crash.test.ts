// A real crash: a child process writing with a tiny maxSize (a rotation every few writes) is
// SIGKILLed at random moments, then the chain is reopened. Whatever the kill interrupted, the
// records must stay consecutive (nothing lost but whole old files, nothing repeated) and every
// record the child acknowledged must be there.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { RotatingFileReader, RotatingFileWriter, START } from '../../src/rotating-file/index.js';
import { here, listDir, tempDir } from './helpers.js';

const RECORD = 16;
const MAX_SIZE = 4 * RECORD;
const BACKUPS = 3;
const child = path.join(here, 'fixtures', 'crash-writer.js');

/** Runs the child from record `start` on, kills it at a random moment; returns the last acknowledged record. */
async function runAndKill(base: string, start: number): Promise<number> {
  const proc = spawn(process.execPath, [child, base, String(start), String(MAX_SIZE), String(BACKUPS)], {
    stdio: ['ignore', 'ignore', 'inherit', 'pipe'],
  });
  let reports = '';
  const closed = new Promise<void>((resolve) => proc.once('close', () => { resolve(); }));
  const report = proc.stdio[3] as NodeJS.ReadableStream;
  report.setEncoding('latin1');
  await new Promise<void>((resolve) => {
    report.on('data', (s: string) => {
      if (reports === '') setTimeout(() => proc.kill('SIGKILL'), 1 + Math.random() * 60);
      reports += s;
      resolve();
    });
    proc.once('exit', () => { resolve(); });
  });
  await closed;
  const lines = reports.split('\n');
  lines.pop();
  return lines.length === 0 ? start - 1 : Number(lines.at(-1));
}

test('SIGKILL at random moments of writing and rotating loses nothing acknowledged, repeats nothing', async (t) => {
  const dir = tempDir(t);
  const base = path.join(dir, 'log');
  const names = ['.log.chain', 'log', 'log.0', 'log.1', 'log.2'];
  let next = 0;
  let midRotation = 0;
  for (let round = 0; round < 12; round++) {
    const acked = await runAndKill(base, next);
    const before = listDir(dir);
    const slots = ['log.0', 'log.1', 'log.2'].map((n) => before.includes(n));
    const hole = slots.some((present, i) => !present && slots.slice(i + 1).some(Boolean));
    if (before.includes('.log.new') || !before.includes('log') || hole) midRotation++;
    RotatingFileWriter.open(base, { maxSize: MAX_SIZE, maxBackups: BACKUPS }).close();

    const after = listDir(dir);
    t.true(after.every((n) => names.includes(n)), `round ${round}: ${after.join(' ')}`);
    const backups = ['log.0', 'log.1', 'log.2'].filter((n) => after.includes(n));
    t.deepEqual(backups, ['log.0', 'log.1', 'log.2'].slice(0, backups.length), 'no hole among the backups');
    for (const n of backups) t.is(fs.statSync(path.join(dir, n)).size, MAX_SIZE, `${n} is a full file`);
    t.true(fs.statSync(base).size <= MAX_SIZE);
    if (acked >= (BACKUPS + 1) * 4) t.true(backups.length >= BACKUPS - 1, 'at most the one file a rotation drops is gone');

    const data = new RotatingFileReader(base, { maxBackups: BACKUPS }).read(START, 1 << 20).data.toString('latin1');
    t.is(data.length % RECORD, 0, 'whole records only');
    const seqs: number[] = [];
    for (let i = 0; i < data.length; i += RECORD) {
      const rec = data.slice(i, i + RECORD);
      t.regex(rec, /^\d{15}\n$/);
      seqs.push(Number(rec.slice(0, 15)));
    }
    seqs.forEach((s, i) => {
      if (i > 0 && s !== (seqs[i - 1] as number) + 1) t.fail(`record ${seqs[i - 1]} followed by ${s}`);
    });
    const last = seqs.at(-1) ?? -1;
    t.true(last >= acked, `round ${round}: acknowledged ${acked}, last in the files ${last}`);
    t.true(last <= acked + 4, 'at most the one write in flight beyond the acknowledged ones');
    next = last + 1;
  }
  t.log(`${midRotation} of 12 kills left a rotation half done`);
});
