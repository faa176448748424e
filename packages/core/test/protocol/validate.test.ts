import test from 'ava';
import {
  LwError,
  METHOD_IDS,
  MSG,
  OPEN_FLAGS,
  validateCall,
  type CallMessage,
  type MethodName,
} from '../../src/protocol/index.js';

const domain = { uuid: '9b2f4c1e-2a44-4bd5-8f0c-6f1b7f0e0a11', name: 'guest1' };
const pos = { inode: '1234', offset: 0 };

function call(method: MethodName | number, args: unknown, flags: unknown = 0): CallMessage {
  return { type: MSG.CALL, id: 7, method: typeof method === 'number' ? method : METHOD_IDS[method], flags: flags as number, args };
}

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof LwError) return `${err.code}${typeof err.data === 'object' && err.data !== null && 'field' in err.data ? `:${String(err.data.field)}` : ''}`;
    throw err;
  }
  return undefined;
}

const good: { [M in MethodName]: unknown } = {
  hello: { version: 1, client: 'test' },
  openLog: { driver: 'qemu', domain, path: 'qemu/guest1.log', maxSize: 4096, maxBackups: 2 },
  getPosition: { path: 'a.log' },
  read: { path: 'a.log', position: pos, maxLen: 65536 },
  append: { driver: 'cli', domain: null, path: 'a.log', data: new Uint8Array([1, 2]) },
  follow: { path: 'a.log', position: pos, credit: { events: 2, bytes: 100 } },
  list: {},
  closeLog: { path: 'a.log' },
  removeLog: { path: 'a.log' },
  stats: {},
  setLogLevel: { level: 'debug' },
  reloadConfig: {},
  upgrade: {},
  cancel: { streamId: 3 },
};

test('well-formed args of every method pass and carry flags', (t) => {
  for (const [method, args] of Object.entries(good) as [MethodName, unknown][]) {
    const decoded = validateCall(call(method, args), 0);
    t.is(decoded.method, method);
    t.is(decoded.args.flags, 0);
  }
  const open = validateCall(call('openLog', good.openLog, OPEN_FLAGS.TRUNCATE), 0);
  t.is(open.flags, OPEN_FLAGS.TRUNCATE);
});

test('optional args may be nil; stats path is optional', (t) => {
  t.is(code(() => validateCall(call('openLog', { ...(good.openLog as object), maxSize: null }), 0)), undefined);
  t.is(code(() => validateCall(call('stats', { path: 'x.log' }), 0)), undefined);
});

const bad: [string, () => unknown, string][] = [
  ['unknown method id', () => validateCall(call(99, {}), 0), 'LW_ERR_PROTO_UNKNOWN_METHOD'],
  ['non-integer method', () => validateCall(call(1.5, {}), 0), 'LW_ERR_PROTO_UNKNOWN_METHOD'],
  ['string method', () => validateCall({ ...call('list', {}), method: 'list' as unknown as number }, 0), 'LW_ERR_PROTO_UNKNOWN_METHOD'],
  ['unknown flag bit', () => validateCall(call('read', good.read, 4), 0), 'LW_ERR_PROTO_UNKNOWN_FLAGS'],
  ['TRUNCATE on append', () => validateCall(call('append', good.append, OPEN_FLAGS.TRUNCATE), 0), 'LW_ERR_PROTO_UNKNOWN_FLAGS'],
  ['high flag bit', () => validateCall(call('openLog', good.openLog, 0x80000000), 0), 'LW_ERR_PROTO_UNKNOWN_FLAGS'],
  ['missing flags', () => validateCall({ ...call('list', {}), flags: undefined as unknown as number }, 0), 'LW_ERR_PROTO_BAD_ARGS:flags'],
  ['negative flags', () => validateCall(call('list', {}, -1), 0), 'LW_ERR_PROTO_BAD_ARGS:flags'],
  ['fds on a call', () => validateCall(call('list', {}), 1), 'LW_ERR_PROTO_UNEXPECTED_FDS'],
  ['args not a map', () => validateCall(call('list', [1]), 0), 'LW_ERR_PROTO_BAD_ARGS:'],
  ['unknown arg', () => validateCall(call('list', { x: 1 }), 0), 'LW_ERR_PROTO_BAD_ARGS:x'],
  ['missing path', () => validateCall(call('getPosition', {}), 0), 'LW_ERR_PROTO_BAD_ARGS:path'],
  ['empty path', () => validateCall(call('getPosition', { path: '' }), 0), 'LW_ERR_PROTO_BAD_ARGS:path'],
  ['path with NUL', () => validateCall(call('getPosition', { path: 'a\0b' }), 0), 'LW_ERR_PROTO_BAD_ARGS:path'],
  ['path too long', () => validateCall(call('getPosition', { path: 'a'.repeat(4097) }), 0), 'LW_ERR_PROTO_BAD_ARGS:path'],
  ['path too long in UTF-8', () => validateCall(call('getPosition', { path: 'é'.repeat(2049) }), 0), 'LW_ERR_PROTO_BAD_ARGS:path'],
  ['path a number', () => validateCall(call('removeLog', { path: 5 }), 0), 'LW_ERR_PROTO_BAD_ARGS:path'],
  ['inode not decimal', () => validateCall(call('read', { ...(good.read as object), position: { inode: '0x10', offset: 0 } }), 0), 'LW_ERR_PROTO_BAD_ARGS:position.inode'],
  ['inode leading zero', () => validateCall(call('read', { ...(good.read as object), position: { inode: '012', offset: 0 } }), 0), 'LW_ERR_PROTO_BAD_ARGS:position.inode'],
  ['inode above u64', () => validateCall(call('read', { ...(good.read as object), position: { inode: '18446744073709551616', offset: 0 } }), 0), 'LW_ERR_PROTO_BAD_ARGS:position.inode'],
  ['inode as number', () => validateCall(call('read', { ...(good.read as object), position: { inode: 5, offset: 0 } }), 0), 'LW_ERR_PROTO_BAD_ARGS:position.inode'],
  ['negative offset', () => validateCall(call('read', { ...(good.read as object), position: { inode: '5', offset: -1 } }), 0), 'LW_ERR_PROTO_BAD_ARGS:position.offset'],
  ['fractional offset', () => validateCall(call('follow', { path: 'a', position: { inode: '5', offset: 0.5 } }), 0), 'LW_ERR_PROTO_BAD_ARGS:position.offset'],
  ['maxLen zero', () => validateCall(call('read', { ...(good.read as object), maxLen: 0 }), 0), 'LW_ERR_PROTO_BAD_ARGS:maxLen'],
  ['maxLen above limit', () => validateCall(call('read', { ...(good.read as object), maxLen: 4 * 1024 * 1024 + 1 }), 0), 'LW_ERR_PROTO_BAD_ARGS:maxLen'],
  ['data not binary', () => validateCall(call('append', { ...(good.append as object), data: 'text' }), 0), 'LW_ERR_PROTO_BAD_ARGS:data'],
  ['data too large', () => validateCall(call('append', { ...(good.append as object), data: new Uint8Array(4 * 1024 * 1024 + 1) }), 0), 'LW_ERR_PROTO_BAD_ARGS:data'],
  ['driver uppercase', () => validateCall(call('openLog', { ...(good.openLog as object), driver: 'QEMU' }), 0), 'LW_ERR_PROTO_BAD_ARGS:driver'],
  ['domain missing name', () => validateCall(call('openLog', { ...(good.openLog as object), domain: { uuid: 'x' } }), 0), 'LW_ERR_PROTO_BAD_ARGS:domain.name'],
  ['domain missing', () => validateCall(call('openLog', { driver: 'qemu', path: 'a' }), 0), 'LW_ERR_PROTO_BAD_ARGS:domain'],
  ['maxSize zero', () => validateCall(call('openLog', { ...(good.openLog as object), maxSize: 0 }), 0), 'LW_ERR_PROTO_BAD_ARGS:maxSize'],
  ['maxBackups huge', () => validateCall(call('openLog', { ...(good.openLog as object), maxBackups: 5000 }), 0), 'LW_ERR_PROTO_BAD_ARGS:maxBackups'],
  ['bad level', () => validateCall(call('setLogLevel', { level: 'trace' }), 0), 'LW_ERR_PROTO_BAD_ARGS:level'],
  ['credit zero', () => validateCall(call('follow', { path: 'a', position: pos, credit: { events: 0, bytes: 1 } }), 0), 'LW_ERR_PROTO_BAD_ARGS:credit.events'],
  ['streamId string', () => validateCall(call('cancel', { streamId: '1' }), 0), 'LW_ERR_PROTO_BAD_ARGS:streamId'],
  ['hello version missing', () => validateCall(call('hello', {}), 0), 'LW_ERR_PROTO_BAD_ARGS:version'],
  ['hello client too long', () => validateCall(call('hello', { version: 1, client: 'x'.repeat(257) }), 0), 'LW_ERR_PROTO_BAD_ARGS:client'],
];

for (const [title, fn, expected] of bad) {
  test(`rejects ${title} with ${expected}`, (t) => {
    t.is(code(fn), expected);
  });
}
