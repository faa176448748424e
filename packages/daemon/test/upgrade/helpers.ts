// Shared by the upgrade tests and bench: the sequence-line writer and a reader that checks every
// line arrived exactly once, in order.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { close } from '@logwarden/core/native';
import type { RpcClient, WirePosition } from '@logwarden/core/protocol';

export const SEQ_WRITER = fileURLToPath(new URL('./fixtures/seq-writer.js', import.meta.url));
export const LINE_BYTES = 64;

export interface WriterReport {
  lines: number;
  maxStallMs: number;
  /** [epoch ms when the wait ended, ms waited] for each write that took 10 ms or more. */
  stalls: [number, number][];
  error: string | null;
  elapsedMs: number;
}

export interface WriterOptions {
  stopFile: string;
  reportFile: string;
  maxBytes: number;
  batchBytes?: number;
  pauseMs?: number;
}

/** Starts seq-writer with `fd` (a log pipe's write end) as stdout; closes our copy of the fd. */
export function spawnSeqWriter(fd: number, o: WriterOptions): ChildProcess {
  const args = [SEQ_WRITER, o.stopFile, o.reportFile, String(o.maxBytes), String(o.batchBytes ?? 65536), String(o.pauseMs ?? 0)];
  const child = spawn(process.execPath, args, { stdio: ['ignore', fd, 'inherit'] });
  close(fd);
  return child;
}

export function readReport(file: string): WriterReport {
  return JSON.parse(readFileSync(file, 'utf8')) as WriterReport;
}

export interface SeqCheck {
  lines: number;
  /** Problems found (first few): a gap, a duplicate, a malformed line, bytes rotated away. */
  errors: string[];
}

/** Reads the log from `from` to its end through the read call and checks the sequence 0, 1, 2... */
export async function checkSequence(client: RpcClient, path: string, from: WirePosition): Promise<SeqCheck> {
  const errors: string[] = [];
  let expected = 0;
  let carry = '';
  let position = from;
  for (;;) {
    const { result } = await client.call('read', { path, position, maxLen: 4 * 1024 * 1024 });
    if (result.gap > 0) errors.push(`${result.gap} bytes rotated away before ${position.offset}`);
    if (result.data.length === 0) break;
    position = result.position;
    const text = carry + Buffer.from(result.data).toString('latin1');
    const cut = text.lastIndexOf('\n') + 1;
    carry = text.slice(cut);
    for (let off = 0; off < cut; off += LINE_BYTES) {
      const line = text.slice(off, off + LINE_BYTES);
      const seq = Number(line.slice(0, 12));
      if (line.length !== LINE_BYTES || line[LINE_BYTES - 1] !== '\n' || !Number.isInteger(seq)) {
        if (errors.length < 10) errors.push(`malformed line after ${expected - 1}: ${JSON.stringify(line.slice(0, 80))}`);
        return { lines: expected, errors };
      }
      if (seq !== expected && errors.length < 10) errors.push(seq < expected ? `duplicate ${seq} after ${expected - 1}` : `gap: ${expected}..${seq - 1} missing`);
      expected = seq + 1;
    }
  }
  if (carry.length > 0) errors.push(`partial last line ${JSON.stringify(carry.slice(0, 80))}`);
  return { lines: expected, errors };
}
