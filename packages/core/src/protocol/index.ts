// `@logwarden/core/protocol`: the RPC contract shared by the daemon and its clients.
export { ERROR_CODES, LwError, isErrorCode, isLwError, type ErrorCode, type ErrorSpec, type WireError } from './errors.js';
export { DEFAULT_FOLLOW_CREDIT, LIMITS, PROTOCOL_VERSION, type Credit, type Limits } from './limits.js';
export {
  LOG_LEVELS,
  METHOD_FLAGS,
  METHOD_IDS,
  METHOD_NAMES,
  OPEN_FLAGS,
  POSITION_START,
  methodName,
  type CallArgs,
  type Domain,
  type FollowEvent,
  type LogInfo,
  type LogLevel,
  type MethodArgs,
  type MethodName,
  type MethodResults,
  type WirePosition,
} from './methods.js';
export { ARG_VALIDATORS, RESULT_VALIDATORS, type Validator } from './validate.js';
export { scanMsgpack } from './msgpack-scan.js';
export { FRAME_HEADER_BYTES, FrameDecoder, encodeFrameHeader, parseFrameHeader, type Frame, type FrameHeader } from './frame.js';
export {
  MSG,
  decodeCall,
  decodeMessage,
  encodeFrame,
  encodeMessage,
  validateCall,
  type CallMessage,
  type CreditMessage,
  type DecodedCall,
  type EndMessage,
  type ErrorMessage,
  type EventMessage,
  type Message,
  type ReplyMessage,
} from './messages.js';
export { FramedConnection, closeFds, type ConnectionEvents } from './connection.js';
export type { StreamSink } from './server-stream.js';
export {
  RpcServer,
  type BuiltinMethod,
  type CallContext,
  type HandledMethod,
  type HandlerOutput,
  type InjectOptions,
  type LogLevelName,
  type Peer,
  type RpcHandlers,
  type RpcServerOptions,
  type SuspendedConnection,
} from './rpc-server.js';
export {
  FollowStream,
  RpcClient,
  type CallOptions,
  type CallResult,
  type FollowOptions,
  type RpcClientOptions,
  type ServerInfo,
} from './rpc-client.js';
