// @logwarden/core/native: the public surface of the native layer (docs/native-api.md).
export * from './calls.js';
export { SysError, NativeError, NativeErrorCode, isSysError } from './errors.js';
export { UnixSocket, UnixServer } from './unix-socket.js';
export type { Message, SendOptions } from './unix-socket.js';
