// `@logwarden/client`: the SDK managers use to talk to logwardend.
export { LogwardenClient, connect, type ConnectOptions, type OpenedLog, type ReadChunk } from './client.js';
export { spawnLogged, type SpawnLoggedOptions, type SpawnedLogged } from './spawn-logged.js';
export { DEFAULT_SOCKET_PATH, defaultSocketPath } from './socket-path.js';
export {
  LwError,
  OPEN_FLAGS,
  POSITION_START,
  type Domain,
  type ErrorCode,
  type FollowEvent,
  type LogInfo,
  type LogLevel,
  type WirePosition,
} from '@logwarden/core/protocol';
