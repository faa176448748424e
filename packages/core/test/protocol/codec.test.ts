import test from 'ava';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import {
  FrameDecoder,
  LIMITS,
  LwError,
  METHOD_IDS,
  MSG,
  decodeCall,
  decodeMessage,
  encodeFrame,
  encodeMessage,
  isErrorCode,
  scanMsgpack,
  type Message,
} from '../../src/protocol/index.js';

function errorCode(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof LwError) return err.code;
    throw err;
  }
  return 'none';
}

/** Buffers and Uint8Arrays compare by content. */
function plain(v: unknown): unknown {
  if (v instanceof Uint8Array) return [...v];
  if (Array.isArray(v)) return v.map(plain);
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

const messages: Message[] = [
  { type: MSG.CALL, id: 1, method: METHOD_IDS.read, flags: 0, args: { path: 'a.log', position: { inode: '18446744073709551615', offset: 9 }, maxLen: 10 } },
  { type: MSG.REPLY, id: 2, result: { data: new Uint8Array([0, 255, 10]), position: { inode: '7', offset: 3 }, gap: 0 } },
  { type: MSG.ERROR, id: 3, error: { code: 'LW_ERR_LOG_NOT_FOUND', message: 'no such log', data: { path: 'x' } } },
  { type: MSG.ERROR, id: null, error: { code: 'LW_ERR_AUTH_DENIED', message: 'no' } },
  { type: MSG.EVENT, stream: 4, data: new Uint8Array(70000).fill(65), position: { inode: '1', offset: 70000 }, gap: 12 },
  { type: MSG.END, stream: 4, error: null },
  { type: MSG.END, stream: 5, error: { code: 'LW_ERR_LOG_IO', message: 'disk' } },
  { type: MSG.CREDIT, stream: 4, events: 8, bytes: 65536 },
];

test('every message type round-trips through a frame and the decoder', (t) => {
  const d = new FrameDecoder();
  const wire = Buffer.concat(messages.flatMap((m) => encodeFrame(m)));
  const frames = d.push(wire);
  t.is(frames.length, messages.length);
  frames.forEach((f, i) => {
    const back = decodeMessage(f.body);
    const want = messages[i];
    t.deepEqual(plain(back), plain(want));
  });
});

test('binary data stays binary and undefined fields encode as nil (no extension types)', (t) => {
  const body = encodeMessage({ type: MSG.ERROR, id: 1, error: { code: 'LW_ERR_INTERNAL', message: 'x', data: undefined } });
  t.notThrows(() => { scanMsgpack(body, 4); });
  const back = decodeMessage(body);
  t.deepEqual(back, { type: MSG.ERROR, id: 1, error: { code: 'LW_ERR_INTERNAL', message: 'x' } });
  const ev = decodeMessage(encodeMessage(messages[4] as Message));
  t.true(ev.type === MSG.EVENT && ev.data instanceof Uint8Array && ev.data.length === 70000);
});

test('decodeCall validates the whole call from a frame', (t) => {
  const [, body] = encodeFrame({ type: MSG.CALL, id: 9, method: METHOD_IDS.getPosition, flags: 0, args: { path: 'p' } });
  const call = decodeCall({ body, fds: [] });
  t.is(call.method, 'getPosition');
  t.deepEqual(call.args, { path: 'p', flags: 0 });
  t.is(errorCode(() => decodeCall({ body, fds: [3] })), 'LW_ERR_PROTO_UNEXPECTED_FDS');
  const [, reply] = encodeFrame({ type: MSG.REPLY, id: 9, result: {} });
  t.is(errorCode(() => decodeCall({ body: reply, fds: [] })), 'LW_ERR_PROTO_MALFORMED');
});

test('an encoded frame over the size limit is refused before sending', (t) => {
  const data = new Uint8Array(LIMITS.maxFrameBytes);
  t.is(errorCode(() => encodeFrame({ type: MSG.EVENT, stream: 1, data, position: { inode: '1', offset: 0 }, gap: 0 })), 'LW_ERR_PROTO_FRAME_TOO_LARGE');
});

const raw = new Packr({ useRecords: false, moreTypes: true });
const malformed: [string, Uint8Array][] = [
  ['empty body', new Uint8Array(0)],
  ['truncated map', new Uint8Array([0x82, 0xa4, 0x74, 0x79, 0x70, 0x65])],
  ['truncated string', new Uint8Array([0xd9, 0x20, 0x41])],
  ['array32 claiming 4G items', new Uint8Array([0xdd, 0xff, 0xff, 0xff, 0xff, 0x01])],
  ['bin32 claiming 4 GiB', new Uint8Array([0xc6, 0xff, 0xff, 0xff, 0xff, 0x01])],
  ['map32 claiming 2G pairs', new Uint8Array([0xdf, 0x7f, 0xff, 0xff, 0xff])],
  ['reserved 0xc1', new Uint8Array([0xc1])],
  ['fixext (msgpackr undefined)', new Uint8Array([0xd4, 0x00, 0x00])],
  ['timestamp extension', raw.pack(new Date(0))],
  ['msgpackr Error extension', raw.pack(new Error('x'))],
  ['msgpackr RegExp extension', raw.pack(/a+/)],
  ['trailing bytes', new Uint8Array([0x80, 0x00])],
  ['deep nesting', new Uint8Array([...Array<number>(100).fill(0x91), 0x00])],
  ['not a map', raw.pack([1, 2, 3])],
  ['unknown message type', raw.pack({ type: 42 })],
  ['call without id', raw.pack({ type: 0, method: 1, flags: 0, args: {} })],
  ['negative id', raw.pack({ type: 1, id: -1, result: {} })],
  ['event data as string', raw.pack({ type: 3, stream: 1, data: 'x', position: { inode: '1', offset: 0 }, gap: 0 })],
  ['event bad inode', raw.pack({ type: 3, stream: 1, data: new Uint8Array(1), position: { inode: 'x', offset: 0 }, gap: 0 })],
  ['error without code', raw.pack({ type: 2, id: 1, error: { message: 'x' } })],
];

for (const [title, body] of malformed) {
  test(`malformed body: ${title} -> LW_ERR_PROTO_MALFORMED`, (t) => {
    t.is(errorCode(() => decodeMessage(body)), 'LW_ERR_PROTO_MALFORMED');
  });
}

test('property: arbitrary bodies decode to a message or a coded error, never anything else', (t) => {
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }), fc.anything().map((v) => raw.pack(v))), (body) => {
      try {
        decodeMessage(body);
      } catch (err) {
        return err instanceof LwError && isErrorCode(err.code);
      }
      return true;
    }),
    { numRuns: 5000 },
  );
  t.pass();
});

test('property: whatever passes the scanner, msgpackr decodes without throwing', (t) => {
  const packr = new Packr({ useRecords: false });
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (body) => {
      try {
        scanMsgpack(body, LIMITS.maxDepth);
      } catch {
        return true;
      }
      packr.unpack(body);
      return true;
    }),
    { numRuns: 20000 },
  );
  t.pass();
});
