// A small blob (which stored fd is which log, positions...) kept in the fd store as a sealed memfd,
// so it survives a crash exactly as long as the fds it describes. Framing, 12 bytes then payload:
//   "LWSR" | u32le payload length | u32le CRC-32 of payload
// The seals make the record immutable: whoever gets the fd back reads what was written, nothing else.

import { readSync, writeSync } from 'node:fs';
import { crc32 } from 'node:zlib';

import { addSeals, close, fstat, getSeals, memfdCreate, SEAL } from '@logwarden/core/native';
import { LwError } from '@logwarden/core/errors';

import type { Notifier } from './notifier.js';

const MAGIC = Buffer.from('LWSR', 'ascii');
const HEADER_BYTES = 12;
// Far above any real record; bounds the allocation when reading a foreign fd.
export const STATE_RECORD_MAX_BYTES = 64 * 1024 * 1024;

function stateError(message: string, cause?: unknown): LwError {
  return new LwError('LW_ERR_SYSTEMD_STATE_INVALID', message, undefined, { cause });
}

/** A sealed memfd holding `payload`; the caller owns (and closes) the returned fd. */
export function createStateRecord(payload: Uint8Array): number {
  if (payload.length > STATE_RECORD_MAX_BYTES) {
    throw stateError(`state record of ${payload.length} bytes exceeds ${STATE_RECORD_MAX_BYTES}`);
  }
  const header = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(header, 0);
  header.writeUInt32LE(payload.length, 4);
  header.writeUInt32LE(crc32(payload), 8);
  const fd = memfdCreate('logwarden-state');
  try {
    writeAll(fd, header, 0);
    writeAll(fd, payload, HEADER_BYTES);
    addSeals(fd, SEAL.SHRINK | SEAL.GROW | SEAL.WRITE | SEAL.SEAL);
    return fd;
  } catch (err) {
    close(fd);
    throw err;
  }
}

function writeAll(fd: number, bytes: Uint8Array, position: number): void {
  let done = 0;
  while (done < bytes.length) {
    done += writeSync(fd, bytes, done, bytes.length - done, position + done);
  }
}

/**
 * Replaces the record stored under `name`: FDSTOREREMOVE for the old one, then the new one, in two
 * back-to-back datagrams that the manager handles in order. Follow with barrier() before exiting.
 */
export async function storeStateRecord(notifier: Notifier, name: string, payload: Uint8Array): Promise<void> {
  const fd = createStateRecord(payload);
  try {
    await notifier.removeFds(name);
    // A memfd never hangs up, so polling it would only cost the manager an epoll entry.
    await notifier.storeFds([fd], name, { poll: false });
  } finally {
    close(fd);
  }
}

/** The payload of a record made by createStateRecord; rejects anything else with a coded error. */
export function readStateRecord(fd: number): Buffer {
  const need = SEAL.SHRINK | SEAL.GROW | SEAL.WRITE;
  let size: number;
  try {
    if ((getSeals(fd) & need) !== need) throw stateError('state record fd is not sealed against writes');
    size = fstat(fd).size;
  } catch (err) {
    if (err instanceof LwError) throw err;
    throw stateError('state record fd is not a sealed memfd', err);
  }
  if (size < HEADER_BYTES || size > HEADER_BYTES + STATE_RECORD_MAX_BYTES) {
    throw stateError(`state record has an impossible size (${size} bytes)`);
  }
  const bytes = Buffer.alloc(size);
  let done = 0;
  while (done < size) {
    const n = readSync(fd, bytes, done, size - done, done);
    if (n === 0) break;
    done += n;
  }
  if (done !== size || !bytes.subarray(0, 4).equals(MAGIC)) throw stateError('not a logwarden state record');
  const length = bytes.readUInt32LE(4);
  const payload = bytes.subarray(HEADER_BYTES);
  if (length !== payload.length) throw stateError(`state record says ${length} bytes but holds ${payload.length}`);
  if (crc32(payload) !== bytes.readUInt32LE(8)) throw stateError('state record checksum mismatch');
  return payload;
}
