// Protocol-wide constants. Every size is checked against these before anything is allocated.

export const PROTOCOL_VERSION = 1;

export interface Limits {
  /** Whole frame, header included. */
  readonly maxFrameBytes: number;
  readonly maxFdsPerFrame: number;
  readonly maxReadLen: number;
  readonly maxPathBytes: number;
  readonly maxAppendBytes: number;
  /** Short identifiers: driver, domain uuid and name, client and server names. */
  readonly maxNameBytes: number;
  /** Nesting of msgpack arrays/maps in a body; ours never exceed 4. */
  readonly maxDepth: number;
}

export const LIMITS: Limits = Object.freeze({
  maxFrameBytes: 8 * 1024 * 1024,
  maxFdsPerFrame: 4,
  maxReadLen: 4 * 1024 * 1024,
  maxPathBytes: 4096,
  maxAppendBytes: 4 * 1024 * 1024,
  maxNameBytes: 256,
  maxDepth: 16,
});

/** Flow control window of a follow stream: the server sends while both counters are positive. */
export interface Credit {
  events: number;
  bytes: number;
}

/** Granted when a follow call names none: enough to keep a local consumer busy, small enough to bound memory. */
export const DEFAULT_FOLLOW_CREDIT: Readonly<Credit> = Object.freeze({ events: 64, bytes: 1024 * 1024 });
