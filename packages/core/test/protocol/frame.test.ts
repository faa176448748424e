import test from 'ava';
import fc from 'fast-check';
import {
  FRAME_HEADER_BYTES,
  FrameDecoder,
  LIMITS,
  LwError,
  encodeFrameHeader,
  isErrorCode,
  parseFrameHeader,
  type Frame,
  type Limits,
} from '../../src/protocol/index.js';

function frame(body: Uint8Array | string, fdCount = 0, limits: Limits = LIMITS): Buffer {
  const b = typeof body === 'string' ? Buffer.from(body) : Buffer.from(body);
  return Buffer.concat([encodeFrameHeader(b.length, fdCount, limits), b]);
}

function errorCode(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof LwError) return err.code;
    throw err;
  }
  return 'none';
}

test('header round trip', (t) => {
  const h = encodeFrameHeader(123456, 3);
  t.is(h.length, FRAME_HEADER_BYTES);
  t.deepEqual(parseFrameHeader(h), { fdCount: 3, bodyLength: 123456 });
});

test('header is rejected from its 8 bytes alone: magic, size, fd count', (t) => {
  const big = Buffer.from([0x4c, 0x57, 1, 0, 0xff, 0xff, 0xff, 0xff]);
  t.is(errorCode(() => parseFrameHeader(big)), 'LW_ERR_PROTO_FRAME_TOO_LARGE');
  const exact = encodeFrameHeader(LIMITS.maxFrameBytes - FRAME_HEADER_BYTES, 0);
  t.is(parseFrameHeader(exact).bodyLength, LIMITS.maxFrameBytes - FRAME_HEADER_BYTES);
  const over = Buffer.from(exact);
  over.writeUInt32BE(LIMITS.maxFrameBytes - FRAME_HEADER_BYTES + 1, 4);
  t.is(errorCode(() => parseFrameHeader(over)), 'LW_ERR_PROTO_FRAME_TOO_LARGE');
  t.is(errorCode(() => parseFrameHeader(Buffer.from([0x4c, 0x57, 1, 5, 0, 0, 0, 1]))), 'LW_ERR_PROTO_TOO_MANY_FDS');
  t.is(errorCode(() => parseFrameHeader(Buffer.from('GET / HT'))), 'LW_ERR_PROTO_BAD_MAGIC');
  t.is(errorCode(() => parseFrameHeader(Buffer.from([0x4c, 0x57, 2, 0, 0, 0, 0, 1]))), 'LW_ERR_PROTO_BAD_MAGIC');
  t.is(errorCode(() => encodeFrameHeader(LIMITS.maxFrameBytes, 0)), 'LW_ERR_PROTO_FRAME_TOO_LARGE');
  t.is(errorCode(() => encodeFrameHeader(1, 5)), 'LW_ERR_PROTO_TOO_MANY_FDS');
});

test('an oversized header is refused before its body arrives and nothing is buffered for it', (t) => {
  const d = new FrameDecoder();
  const header = Buffer.from([0x4c, 0x57, 1, 0, 0x7f, 0xff, 0xff, 0xff]);
  t.is(errorCode(() => d.push(header)), 'LW_ERR_PROTO_FRAME_TOO_LARGE');
  t.true(d.bufferedBytes <= FRAME_HEADER_BYTES);
});

test('frames split at every byte boundary come out whole', (t) => {
  const stream = Buffer.concat([frame('alpha'), frame(''), frame('b'.repeat(300))]);
  for (let cut = 0; cut <= stream.length; cut++) {
    const d = new FrameDecoder();
    const frames = [...d.push(stream.subarray(0, cut)), ...d.push(stream.subarray(cut))];
    t.deepEqual(
      frames.map((f) => f.body.toString()),
      ['alpha', '', 'b'.repeat(300)],
    );
    t.false(d.midFrame);
  }
});

test('fds bind to the frame that declares them within its chunk', (t) => {
  const d = new FrameDecoder();
  // One recvmsg returning an fd-less frame, then the fd-carrying frame (its first skb) and more.
  const chunk = Buffer.concat([frame('plain'), frame('withfds', 2)]);
  const out = d.push(chunk, [10, 11]);
  t.deepEqual(
    out.map((f) => [f.body.toString(), f.fds]),
    [
      ['plain', []],
      ['withfds', [10, 11]],
    ],
  );
  t.deepEqual(d.heldFds(), []);
});

test('a fd frame whose header is split across chunks still claims the fds of the chunk it starts in', (t) => {
  const d = new FrameDecoder();
  const f = frame('xyz', 1);
  const first = d.push(Buffer.concat([frame('a'), f.subarray(0, 3)]), [42]);
  t.deepEqual(first.map((x) => [x.body.toString(), x.fds]), [['a', []]]);
  t.deepEqual(d.heldFds(), [42]);
  const out = d.push(f.subarray(3));
  t.deepEqual(out.map((x) => x.fds), [[42]]);
  t.deepEqual(d.heldFds(), []);
});

const mismatches: [string, (d: FrameDecoder) => unknown][] = [
  ['frame declares fds, none came', (d) => d.push(frame('x', 1))],
  ['frame declares 2, 1 came', (d) => d.push(frame('x', 2), [5])],
  ['fds came, frame declares none', (d) => d.push(frame('x'), [5])],
  ['two frames in one chunk both claim', (d) => d.push(Buffer.concat([frame('x', 1), frame('y', 1)]), [5])],
  ['fds arrive in the middle of a body', (d) => {
    const f = frame('z'.repeat(100));
    d.push(f.subarray(0, 20));
    return d.push(f.subarray(20, 40), [5]);
  }],
  ['fds with an empty chunk', (d) => d.push(Buffer.alloc(0), [5])],
];

for (const [title, run] of mismatches) {
  test(`fd mismatch: ${title}`, (t) => {
    const d = new FrameDecoder();
    t.is(errorCode(() => run(d)), 'LW_ERR_PROTO_FD_MISMATCH');
    t.deepEqual(d.dispose(), [5].filter(() => title !== 'frame declares fds, none came'));
  });
}

test('more fds in one chunk than a frame may carry is refused and they are held for closing', (t) => {
  const d = new FrameDecoder();
  const fds = [20, 21, 22, 23, 24, 25, 26, 27, 28, 29];
  t.is(errorCode(() => d.push(frame('x', 4), fds)), 'LW_ERR_PROTO_TOO_MANY_FDS');
  t.deepEqual(d.dispose().sort((a, b) => a - b), fds);
});

test('after a fatal error the decoder refuses further input', (t) => {
  const d = new FrameDecoder();
  t.is(errorCode(() => d.push(Buffer.from('garbage!'))), 'LW_ERR_PROTO_BAD_MAGIC');
  t.is(errorCode(() => d.push(frame('x'))), 'LW_ERR_RPC_CLOSED');
});

// Small limits so random input reaches every branch, including oversized frames.
const SMALL: Limits = { ...LIMITS, maxFrameBytes: 64, maxFdsPerFrame: 2 };

test('property: arbitrary bytes and fds never crash, never buffer beyond limits, never lose an fd', (t) => {
  let nextFd = 1000;
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          // Half the chunks start with a valid-looking header so frames and fd binding get exercised.
          validHeader: fc.boolean(),
          declared: fc.nat(3),
          bodyLength: fc.nat(80),
          bytes: fc.uint8Array({ maxLength: 120 }),
          fdCount: fc.nat(3),
        }),
        { maxLength: 12 },
      ),
      (chunks) => {
        const d = new FrameDecoder(SMALL);
        const given: number[] = [];
        const delivered: number[] = [];
        for (const c of chunks) {
          const head = c.validHeader
            ? Buffer.from([0x4c, 0x57, 1, c.declared, 0, 0, 0, c.bodyLength])
            : Buffer.alloc(0);
          const data = Buffer.concat([head, c.bytes]);
          const fds = Array.from({ length: c.fdCount }, () => nextFd++);
          given.push(...fds);
          try {
            for (const f of d.push(data, fds)) {
              if (f.body.length + FRAME_HEADER_BYTES > SMALL.maxFrameBytes) return false;
              if (f.fds.length > SMALL.maxFdsPerFrame) return false;
              delivered.push(...f.fds);
            }
          } catch (err) {
            if (!(err instanceof LwError) || !isErrorCode(err.code)) throw err;
            break;
          }
          if (d.bufferedBytes > SMALL.maxFrameBytes + data.length) return false;
          if (d.heldFds().length > 8 * SMALL.maxFdsPerFrame) return false;
        }
        const rest = d.dispose();
        const all = [...delivered, ...rest].sort((a, b) => a - b);
        return JSON.stringify(all) === JSON.stringify(given);
      },
    ),
    { numRuns: 3000 },
  );
  t.pass();
});

test('property: valid frames with fds survive any chunking that respects fd-skb boundaries', (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ body: fc.uint8Array({ maxLength: 40 }), fds: fc.nat(2) }), { minLength: 1, maxLength: 10 }),
      fc.array(fc.nat(60), { maxLength: 10 }),
      (frames, cuts) => {
        // Build the stream and where each fd-carrying frame starts.
        let fd = 1;
        const parts: Buffer[] = [];
        const starts: { at: number; fds: number[] }[] = [];
        let at = 0;
        for (const f of frames) {
          const bytes = frame(f.body, f.fds, SMALL);
          const fds = Array.from({ length: f.fds }, () => fd++);
          if (fds.length > 0) starts.push({ at, fds });
          parts.push(bytes);
          at += bytes.length;
        }
        const stream = Buffer.concat(parts);
        // A recvmsg stops right after an fd-carrying skb, so a chunk never holds two fd-frame starts:
        // cut just before every fd-frame start (after the first) plus random extra cuts.
        const cutSet = new Set<number>([...starts.map((s) => s.at).filter((x) => x > 0), ...cuts.map((c) => c % (stream.length + 1))]);
        const sorted = [...cutSet].sort((a, b) => a - b);
        const d = new FrameDecoder(SMALL);
        const out: Frame[] = [];
        let prev = 0;
        for (const cut of [...sorted, stream.length]) {
          if (cut < prev) continue;
          const chunkFds = starts.filter((s) => s.at >= prev && s.at < cut).flatMap((s) => s.fds);
          if (cut > prev) out.push(...d.push(stream.subarray(prev, cut), chunkFds));
          prev = cut;
        }
        if (out.length !== frames.length) return false;
        let expectFd = 1;
        return out.every((f, i) => {
          const src = frames[i];
          if (src === undefined || !f.body.equals(Buffer.from(src.body))) return false;
          return f.fds.every((x) => x === expectFd++) && f.fds.length === src.fds;
        });
      },
    ),
    { numRuns: 2000 },
  );
  t.pass();
});
