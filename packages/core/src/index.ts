// @logwarden/core: each area is a namespace here and a subpath export of its own
// (`@logwarden/core/native`, `/rotating-file`, `/journal`, `/protocol`); the subpaths are preferred.
export * as native from './native/index.js';
export * as rotatingFile from './rotating-file/index.js';
export * as journal from './journal/index.js';
export * as protocol from './protocol/index.js';
