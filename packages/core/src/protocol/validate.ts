// Argument validators: every call's args are checked field by field before a handler sees them.
// A failure is LW_ERR_PROTO_BAD_ARGS with `data: { field }` naming the offending field.
import { LwError } from './errors.js';
import { LIMITS } from './limits.js';
import {
  LOG_LEVELS,
  type Domain,
  type LogInfo,
  type LogLevel,
  type MethodArgs,
  type MethodName,
  type MethodResults,
  type WirePosition,
} from './methods.js';

export type Validator<T> = (value: unknown, field: string) => T;

function bad(field: string, reason: string): LwError {
  return new LwError('LW_ERR_PROTO_BAD_ARGS', `invalid argument ${field}: ${reason}`, { field });
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

export function str(opts: { maxBytes: number; minBytes?: number; pattern?: RegExp }): Validator<string> {
  const minBytes = opts.minBytes ?? 1;
  return (value, field) => {
    if (typeof value !== 'string') throw bad(field, 'expected a string');
    // UTF-8 never takes fewer bytes than UTF-16 code units: a long string is refused before it is measured.
    const size = value.length > opts.maxBytes ? Infinity : Buffer.byteLength(value);
    if (size > opts.maxBytes) throw bad(field, `longer than ${opts.maxBytes} bytes`);
    if (size < minBytes) throw bad(field, minBytes === 1 ? 'must not be empty' : `shorter than ${minBytes} bytes`);
    if (value.includes('\0')) throw bad(field, 'contains a NUL byte');
    if (opts.pattern && !opts.pattern.test(value)) throw bad(field, `does not match ${String(opts.pattern)}`);
    return value;
  };
}

export function uint(opts: { min?: number; max?: number } = {}): Validator<number> {
  const min = opts.min ?? 0;
  const max = opts.max ?? Number.MAX_SAFE_INTEGER;
  return (value, field) => {
    if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw bad(field, 'expected an integer');
    if (value < min || value > max) throw bad(field, `out of range ${min}..${max}`);
    return value;
  };
}

export function bool(): Validator<boolean> {
  return (value, field) => {
    if (typeof value !== 'boolean') throw bad(field, 'expected a boolean');
    return value;
  };
}

export function bytes(opts: { maxBytes: number }): Validator<Uint8Array> {
  return (value, field) => {
    if (!(value instanceof Uint8Array)) throw bad(field, 'expected binary data');
    if (value.byteLength > opts.maxBytes) throw bad(field, `longer than ${opts.maxBytes} bytes`);
    return value;
  };
}

export function oneOf<T extends string>(values: readonly T[]): Validator<T> {
  return (value, field) => {
    if (typeof value !== 'string' || !(values as readonly string[]).includes(value)) {
      throw bad(field, `expected one of ${values.join(', ')}`);
    }
    return value as T;
  };
}

export function nullable<T>(inner: Validator<T>): Validator<T | null> {
  return (value, field) => (value === null ? null : inner(value, field));
}

export function arrayOf<T>(inner: Validator<T>, opts: { maxItems: number }): Validator<T[]> {
  return (value, field) => {
    if (!Array.isArray(value)) throw bad(field, 'expected an array');
    if (value.length > opts.maxItems) throw bad(field, `more than ${opts.maxItems} items`);
    return value.map((item: unknown, i) => inner(item, `${field}[${i}]`));
  };
}

type Shape = Record<string, Validator<unknown>>;
type Out<V> = V extends Validator<infer T> ? T : never;
type Parsed<R extends Shape, O extends Shape> = { [K in keyof R]: Out<R[K]> } & { [K in keyof O]?: Out<O[K]> };

/**
 * A map with these keys (optional ones may be absent or nil). Unknown keys are rejected unless `open`
 * (results are open so that an older client keeps working against a newer server).
 */
export function obj<R extends Shape, O extends Shape>(
  required: R,
  optional: O,
  opts: { open?: boolean } = {},
): Validator<Parsed<R, O>> {
  const req = Object.entries(required);
  const opt = Object.entries(optional);
  const known = new Set([...req.map(([k]) => k), ...opt.map(([k]) => k)]);
  return (value, field) => {
    if (!isPlainObject(value)) throw bad(field, 'expected a map');
    for (const key of opts.open === true ? [] : Object.keys(value)) {
      if (!known.has(key)) throw bad(field === '' ? key : `${field}.${key}`, 'unknown field');
    }
    const out: Record<string, unknown> = {};
    for (const [key, check] of req) {
      const path = field === '' ? key : `${field}.${key}`;
      if (!Object.hasOwn(value, key)) throw bad(path, 'missing');
      out[key] = check(value[key], path);
    }
    for (const [key, check] of opt) {
      const v = value[key];
      if (v !== undefined && v !== null) out[key] = check(v, field === '' ? key : `${field}.${key}`);
    }
    return out as Parsed<R, O>;
  };
}

const U64_MAX = 18446744073709551615n;

export const position: Validator<WirePosition> = (() => {
  const shape: Validator<WirePosition> = obj({ inode: str({ maxBytes: 20, pattern: /^(0|[1-9][0-9]*)$/ }), offset: uint() }, {});
  return (value: unknown, field: string): WirePosition => {
    const pos = shape(value, field);
    if (BigInt(pos.inode) > U64_MAX) throw bad(`${field}.inode`, 'larger than 64 bits');
    return pos;
  };
})();

const name = str({ maxBytes: LIMITS.maxNameBytes });
export const domain: Validator<Domain> = obj({ uuid: name, name }, {});
export const path = str({ maxBytes: LIMITS.maxPathBytes });
const driver = str({ maxBytes: 64, pattern: /^[a-z0-9][a-z0-9._-]*$/ });
const maxSize = uint({ min: 1, max: 2 ** 48 });
const maxBackups = uint({ max: 1000 });
const logLevel: Validator<LogLevel> = oneOf(LOG_LEVELS);
const credit = obj({ events: uint({ min: 1, max: 1 << 20 }), bytes: uint({ min: 1, max: 2 ** 40 }) }, {});

type ArgsWithoutFlags = { [M in MethodName]: Omit<MethodArgs[M], 'flags'> };

/** Per-method validators of `args` (the `flags` word travels beside args and is checked separately). */
export const ARG_VALIDATORS: { readonly [M in MethodName]: Validator<ArgsWithoutFlags[M]> } = {
  hello: obj({ version: uint() }, { client: name }),
  openLog: obj({ driver, domain: nullable(domain), path }, { maxSize, maxBackups }),
  getPosition: obj({ path }, {}),
  read: obj({ path, position, maxLen: uint({ min: 1, max: LIMITS.maxReadLen }) }, {}),
  append: obj({ driver, domain: nullable(domain), path, data: bytes({ maxBytes: LIMITS.maxAppendBytes }) }, { maxSize, maxBackups }),
  follow: obj({ path, position }, { credit }),
  list: obj({}, {}),
  closeLog: obj({ path }, {}),
  removeLog: obj({ path }, {}),
  stats: obj({}, { path }),
  setLogLevel: obj({ level: logLevel }, {}),
  reloadConfig: obj({}, {}),
  upgrade: obj({}, {}),
  cancel: obj({ streamId: uint({ max: 0xffffffff }) }, {}),
};

const count = uint();
const logInfo: Validator<LogInfo> = obj(
  {
    path: str({ maxBytes: LIMITS.maxPathBytes }),
    driver: str({ maxBytes: LIMITS.maxNameBytes }),
    domain: nullable(domain),
    open: bool(),
    bytesIn: count,
    bytesWritten: count,
    bytesDropped: count,
    position,
  },
  {},
  { open: true },
);
const logs = arrayOf(logInfo, { maxItems: 1 << 20 });
const none = obj({}, {}, { open: true });

/** Client-side checks of what a server returns, so a broken server yields a coded error, not a crash. */
export const RESULT_VALIDATORS: { readonly [M in MethodName]: Validator<MethodResults[M]> } = {
  hello: obj({ version: uint(), server: str({ maxBytes: LIMITS.maxNameBytes }), methods: arrayOf(str({ maxBytes: LIMITS.maxNameBytes }), { maxItems: 4096 }) }, {}, { open: true }),
  openLog: obj({ position }, {}, { open: true }),
  getPosition: obj({ position }, {}, { open: true }),
  read: obj({ data: bytes({ maxBytes: LIMITS.maxFrameBytes }), position, gap: count }, {}, { open: true }),
  append: obj({ position }, {}, { open: true }),
  follow: obj({ streamId: uint({ max: 0xffffffff }) }, {}, { open: true }),
  list: obj({ logs }, {}, { open: true }),
  closeLog: none,
  removeLog: obj({ removed: count }, {}, { open: true }),
  stats: obj({ uptimeMs: count, upgrades: count, logs }, {}, { open: true }),
  setLogLevel: none,
  reloadConfig: none,
  upgrade: none,
  cancel: none,
};
