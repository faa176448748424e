// systemd integration: socket activation and fd store hand-back, sd_notify, fd names, state records.
export { listenFds, LISTEN_FDS_START } from './listen-fds.js';
export type { ListenFd } from './listen-fds.js';
export { Notifier, NOTIFY_MAX_BYTES, NOTIFY_MAX_FDS } from './notifier.js';
export type { NotifierOptions, StoreFdsOptions } from './notifier.js';
export { assertFdName, decodeFdName, encodeFdName, fdIdHash, FDNAME_MAX, isValidFdName } from './fd-names.js';
export type { FdNameParts } from './fd-names.js';
export { createStateRecord, readStateRecord, STATE_RECORD_MAX_BYTES, storeStateRecord } from './state-record.js';
