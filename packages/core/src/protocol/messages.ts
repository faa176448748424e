// Messages carried in frame bodies, their msgpack encoding, and decoding of untrusted bodies.
import { Packr } from 'msgpackr';
import { LwError, type WireError } from './errors.js';
import { encodeFrameHeader, type Frame } from './frame.js';
import { LIMITS, type Limits } from './limits.js';
import { METHOD_FLAGS, methodName, type MethodArgs, type MethodName, type WirePosition } from './methods.js';
import { scanMsgpack } from './msgpack-scan.js';
import { ARG_VALIDATORS } from './validate.js';

export const MSG = Object.freeze({ CALL: 0, REPLY: 1, ERROR: 2, EVENT: 3, END: 4, CREDIT: 5 } as const);

/** client -> server */
export interface CallMessage {
  type: typeof MSG.CALL;
  id: number;
  method: number;
  flags: number;
  args: unknown;
}
/** server -> client: the result of call `id`; the frame's fds belong to it. */
export interface ReplyMessage {
  type: typeof MSG.REPLY;
  id: number;
  result: unknown;
}
/** server -> client: call `id` failed; `id: null` is a connection-level error, the server closes next. */
export interface ErrorMessage {
  type: typeof MSG.ERROR;
  id: number | null;
  error: WireError;
}
/** server -> client: one follow event. */
export interface EventMessage {
  type: typeof MSG.EVENT;
  stream: number;
  data: Uint8Array;
  position: WirePosition;
  gap: number;
}
/** server -> client: the stream ended (normally when `error` is null). */
export interface EndMessage {
  type: typeof MSG.END;
  stream: number;
  error: WireError | null;
}
/** client -> server: grants more events/bytes to a stream. */
export interface CreditMessage {
  type: typeof MSG.CREDIT;
  stream: number;
  events: number;
  bytes: number;
}

export type Message = CallMessage | ReplyMessage | ErrorMessage | EventMessage | EndMessage | CreditMessage;

// One codec for both directions. No records, no extensions: a body is plain maps, strings, numbers, binary.
const packr = new Packr({
  useRecords: false,
  moreTypes: false,
  structuredClone: false,
  bundleStrings: false,
  variableMapSize: true,
  encodeUndefinedAsNil: true,
  int64AsType: 'number',
});

export function encodeMessage(msg: Message): Buffer {
  return packr.pack(msg);
}

/** Header + body, ready for one gathered sendmsg with `fdCount` fds. Throws if the frame would be too big. */
export function encodeFrame(msg: Message, fdCount = 0, limits: Limits = LIMITS): [Buffer, Buffer] {
  const body = encodeMessage(msg);
  return [encodeFrameHeader(body.length, fdCount, limits), body];
}

function malformed(reason: string): LwError {
  return new LwError('LW_ERR_PROTO_MALFORMED', `malformed message: ${reason}`);
}

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

function isUint(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function wireError(v: unknown): WireError {
  if (!isMap(v) || typeof v.code !== 'string' || typeof v.message !== 'string') throw malformed('bad error');
  return v.data === undefined || v.data === null
    ? { code: v.code, message: v.message }
    : { code: v.code, message: v.message, data: v.data };
}

function wirePosition(v: unknown): WirePosition {
  if (!isMap(v) || typeof v.inode !== 'string' || !/^(0|[1-9][0-9]{0,19})$/.test(v.inode) || !isUint(v.offset)) {
    throw malformed('bad position');
  }
  return { inode: v.inode, offset: v.offset };
}

/** Decodes an untrusted body into a message of a known type; call details are checked by validateCall. */
export function decodeMessage(body: Uint8Array, limits: Limits = LIMITS): Message {
  if (body.length === 0) throw malformed('empty body');
  scanMsgpack(body, limits.maxDepth);
  let v: unknown;
  try {
    v = packr.unpack(body);
  } catch (err) {
    throw new LwError('LW_ERR_PROTO_MALFORMED', 'malformed msgpack', undefined, { cause: err });
  }
  if (!isMap(v)) throw malformed('not a map');
  switch (v.type) {
    case MSG.CALL:
      if (!isUint(v.id)) throw malformed('bad call id');
      return { type: MSG.CALL, id: v.id, method: v.method as number, flags: v.flags as number, args: v.args };
    case MSG.REPLY:
      if (!isUint(v.id)) throw malformed('bad reply id');
      return { type: MSG.REPLY, id: v.id, result: v.result };
    case MSG.ERROR:
      if (v.id !== null && !isUint(v.id)) throw malformed('bad error id');
      return { type: MSG.ERROR, id: v.id, error: wireError(v.error) };
    case MSG.EVENT:
      if (!isUint(v.stream) || !(v.data instanceof Uint8Array) || !isUint(v.gap)) throw malformed('bad event');
      return { type: MSG.EVENT, stream: v.stream, data: v.data, position: wirePosition(v.position), gap: v.gap };
    case MSG.END:
      if (!isUint(v.stream)) throw malformed('bad end');
      return { type: MSG.END, stream: v.stream, error: v.error === null || v.error === undefined ? null : wireError(v.error) };
    case MSG.CREDIT:
      if (!isUint(v.stream) || !isUint(v.events) || !isUint(v.bytes)) throw malformed('bad credit');
      return { type: MSG.CREDIT, stream: v.stream, events: v.events, bytes: v.bytes };
    default:
      throw malformed('unknown message type');
  }
}

export type DecodedCall = {
  [M in MethodName]: { id: number; method: M; flags: number; args: MethodArgs[M] };
}[MethodName];

/** Checks a call's method, flags, fds and args. Errors are per call: the server answers them with the call's id. */
export function validateCall(msg: CallMessage, fdCount: number): DecodedCall {
  const method = typeof msg.method === 'number' ? methodName(msg.method) : undefined;
  if (method === undefined) {
    throw new LwError('LW_ERR_PROTO_UNKNOWN_METHOD', `unknown method id ${String(msg.method)}`, { method: msg.method });
  }
  const flags: unknown = msg.flags;
  if (!isUint(flags) || flags > 0xffffffff) throw new LwError('LW_ERR_PROTO_BAD_ARGS', 'invalid flags', { field: 'flags' });
  const unknown = flags & ~METHOD_FLAGS[method];
  if (unknown !== 0) {
    throw new LwError('LW_ERR_PROTO_UNKNOWN_FLAGS', `unknown flags 0x${(unknown >>> 0).toString(16)} for ${method}`, {
      flags: unknown >>> 0,
    });
  }
  if (fdCount !== 0) throw new LwError('LW_ERR_PROTO_UNEXPECTED_FDS', `${method} does not accept file descriptors`);
  const args = ARG_VALIDATORS[method](msg.args, '');
  return { id: msg.id, method, flags, args: { ...args, flags } } as DecodedCall;
}

/** The whole server-side check of one frame: body, message type, method, flags, fds, args. */
export function decodeCall(frame: Frame, limits: Limits = LIMITS): DecodedCall {
  const msg = decodeMessage(frame.body, limits);
  if (msg.type !== MSG.CALL) throw malformed('expected a call');
  return validateCall(msg, frame.fds.length);
}
