// RPC layer benchmark: round trips, bulk reads, follow streaming and fd passing over a real UNIX socket,
// against a baseline measured in the same run: newline-delimited JSON over node:net (what a client and
// server without this protocol would do). Prints a table and writes it to docs/benchmarks.md.
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { close, pipe } from '@logwarden/core/native';
import { RpcServer } from '@logwarden/core/protocol';
import { connect } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'lw-bench-'));
const position = { inode: '1', offset: 0 };
const blob = Buffer.alloc(4 * 1024 * 1024, 0x61);
const chunk = Buffer.alloc(64 * 1024, 0x62);

const server = new RpcServer(
  {
    getPosition: () => Promise.resolve({ result: { position } }),
    read: (_ctx, args) => Promise.resolve({ result: { data: blob.subarray(0, args.maxLen), position, gap: 0 } }),
    openLog: () => {
      const p = pipe();
      close(p.readFd);
      return Promise.resolve({ result: { position }, fds: [p.writeFd] });
    },
    follow: (ctx) => {
      const sink = ctx.openStream();
      void (async () => {
        try {
          for (;;) await sink.write({ data: chunk, position, gap: 0 });
        } catch {
          // cancelled: the benchmark is done with this stream
        }
      })();
      return Promise.resolve({ result: { streamId: sink.streamId } });
    },
  },
  { authorize: () => true, maxClients: 8, serverName: 'bench' },
);
const sock = join(dir, 'rpc.sock');
server.listen(sock);

async function timed(seconds: number, body: () => Promise<number>): Promise<{ ops: number; units: number; secs: number }> {
  const start = process.hrtime.bigint();
  const end = start + BigInt(Math.round(seconds * 1e9));
  let ops = 0;
  let units = 0;
  while (process.hrtime.bigint() < end) {
    units += await body();
    ops++;
  }
  return { ops, units, secs: Number(process.hrtime.bigint() - start) / 1e9 };
}

// Baseline: JSON lines over node:net on a UNIX socket, one request in flight, like our calls.
async function jsonBaseline(seconds: number): Promise<number> {
  const path = join(dir, 'json.sock');
  const srv = createServer((s) => {
    let buf = '';
    s.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const req = JSON.parse(buf.slice(0, nl)) as { id: number };
        buf = buf.slice(nl + 1);
        s.write(JSON.stringify({ id: req.id, result: { position } }) + '\n');
      }
    });
  });
  await new Promise<void>((resolve) => srv.listen(path, resolve));
  const c = createConnection(path);
  await new Promise<void>((resolve) => c.once('connect', resolve));
  let pending: (() => void) | null = null;
  let rbuf = '';
  c.on('data', (d: Buffer) => {
    rbuf += d.toString();
    if (rbuf.endsWith('\n')) {
      rbuf = '';
      pending?.();
    }
  });
  let id = 0;
  const r = await timed(seconds, () => new Promise<number>((resolve) => {
    pending = () => { resolve(1); };
    c.write(JSON.stringify({ id: id++, method: 'getPosition', args: { path: 'x.log' } }) + '\n');
  }));
  c.destroy();
  await new Promise<void>((resolve) => srv.close(() => { resolve(); }));
  return r.ops / r.secs;
}

const client = await connect(sock);
const seconds = Number(process.env.BENCH_SECONDS ?? '2');
const rows: [string, string, string][] = [];

const base = await jsonBaseline(seconds);
const calls = await timed(seconds, async () => {
  await client.getPosition('x.log');
  return 1;
});
const callRate = calls.ops / calls.secs;
rows.push(['getPosition round trip', `${Math.round(callRate)} calls/s`, `${(callRate / base).toFixed(2)}x JSON-lines/net (${Math.round(base)} calls/s)`]);

const reads = await timed(seconds, async () => (await client.read('x.log', position, blob.length)).data.length);
rows.push(['read 4 MiB per call', `${Math.round(reads.units / reads.secs / 2 ** 20)} MiB/s`, '-']);

const opens = await timed(seconds, async () => {
  const { fd } = await client.openLog({ driver: 'bench', domain: null, path: 'x.log' });
  close(fd);
  return 1;
});
rows.push(['openLog (pipe fd by SCM_RIGHTS)', `${Math.round(opens.ops / opens.secs)} calls/s`, '-']);

for (const credit of [{ events: 64, bytes: 4 * 2 ** 20 }, { events: 2, bytes: 128 * 1024 }]) {
  let bytes = 0;
  const start = process.hrtime.bigint();
  for await (const ev of client.follow('x.log', position, { credit })) {
    bytes += ev.data.length;
    if (Number(process.hrtime.bigint() - start) / 1e9 >= seconds) break;
  }
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  rows.push([`follow 64 KiB events, window ${credit.events} events`, `${Math.round(bytes / secs / 2 ** 20)} MiB/s`, '-']);
}

client.close();
await server.close();
rmSync(dir, { recursive: true, force: true });

const table = ['| case | result | vs baseline |', '|---|---|---|', ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
console.log(table);
const docs = fileURLToPath(new URL('../../docs/', import.meta.url));
mkdirSync(docs, { recursive: true });
writeFileSync(
  join(docs, 'benchmarks.md'),
  `# RPC benchmarks (packages/client/bench/rpc.ts)\n\nOne client, one call in flight, real UNIX socket, ${seconds} s per case, Node ${process.version}. ` +
    'The baseline is newline-delimited JSON over node:net measured in the same run (no fds, no framing checks, no validation). ' +
    'These machines are shared and noisy: compare ratios, not absolute numbers.\n\n' +
    `${table}\n`,
);
