// Output helpers: aligned tables, sizes, positions, JSON, and writes that respect backpressure.
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import type { LogInfo, WirePosition } from '@logwarden/core/protocol';
import { UsageError } from './command.js';

export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

export function humanBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(1)} ${units[u] ?? 'TiB'}`;
}

export function humanDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const parts = [d > 0 ? `${d}d` : '', d > 0 || h > 0 ? `${h}h` : '', `${m}m`, `${s % 60}s`].filter((p) => p !== '');
  return parts.join(' ');
}

export function formatPosition(p: WirePosition): string {
  return `${p.inode}:${p.offset}`;
}

export function parsePosition(text: string): WirePosition {
  const m = /^(0|[1-9][0-9]{0,19}):(0|[1-9][0-9]{0,15})$/.exec(text);
  const offset = m === null ? NaN : Number(m[2]);
  if (m === null || m[1] === undefined || !Number.isSafeInteger(offset) || BigInt(m[1]) > 18446744073709551615n) {
    throw new UsageError(`invalid position ${JSON.stringify(text)}: expected INODE:OFFSET (decimal)`);
  }
  return { inode: m[1], offset };
}

export function logTable(logs: LogInfo[]): string {
  return table(
    ['PATH', 'DRIVER', 'DOMAIN', 'OPEN', 'IN', 'WRITTEN', 'DROPPED', 'POSITION'],
    logs.map((l) => [
      l.path,
      l.driver,
      l.domain?.name ?? '-',
      l.open ? 'yes' : 'no',
      humanBytes(l.bytesIn),
      humanBytes(l.bytesWritten),
      l.bytesDropped > 0 ? humanBytes(l.bytesDropped) : '0',
      formatPosition(l.position),
    ]),
  );
}

export function json(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('base64') : v)) + '\n';
}

/** Writes and waits for 'drain' when the stream's buffer is full, so a slow reader slows us down. */
export async function write(out: Writable, chunk: string | Uint8Array): Promise<void> {
  if (!out.write(chunk)) await once(out, 'drain');
}
