// Names for fds kept in systemd's fd store (FDNAME=). systemd accepts up to 255 printable ASCII
// characters without ':' (the LISTEN_FDNAMES separator). A log's identity (a path, any UTF-8) is
// escaped into the name when it fits, so the fd alone says which log it belongs to; a longer
// identity is replaced by a hash that the daemon's state record maps back.
//
//   <kind>.<escaped id>   e.g. log./var/log/libvirt/qemu/vm1.log
//   <kind>#<32 hex>       first 128 bits of SHA-256 over the id's UTF-8 bytes
//
// Names without a '.' or '#' after a kind (rpc, state, unknown, stored...) are not ours to decode.

import { createHash } from 'node:crypto';

import { LwError } from '@logwarden/core/errors';

export const FDNAME_MAX = 255;

const KIND = /^[a-z][a-z0-9-]{0,30}$/;
const HASHED = /^([a-z][a-z0-9-]{0,30})#([0-9a-f]{32})$/;
const ESCAPED = /^([a-z][a-z0-9-]{0,30})\.(.+)$/s;
// Bytes kept as themselves: readable in `systemctl status` and journal lines, never ':' or '%'.
const PLAIN = new Uint8Array(128);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~/@+,=') {
  PLAIN[c.charCodeAt(0)] = 1;
}

export interface FdNameParts {
  kind: string;
  /** The log identity, or null when the name only carries its hash. */
  id: string | null;
  hash: string;
}

function nameError(message: string): LwError {
  return new LwError('LW_ERR_SYSTEMD_FDNAME_INVALID', message);
}

/** systemd's own rule for FDNAME= (fdname_is_valid), minus the empty name it would call "stored". */
export function isValidFdName(name: string): boolean {
  if (name.length === 0 || name.length > FDNAME_MAX) return false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x3a) return false;
  }
  return true;
}

export function assertFdName(name: string): void {
  if (!isValidFdName(name)) {
    throw nameError(`fd name ${JSON.stringify(name)} is not 1-${FDNAME_MAX} printable ASCII characters without ':'`);
  }
}

function utf8(id: string): Buffer {
  const bytes = Buffer.from(id, 'utf8');
  // A lone surrogate would be replaced by U+FFFD and decode to another id.
  if (id.length === 0 || bytes.toString('utf8') !== id) throw nameError('fd name id must be non-empty, well-formed Unicode');
  return bytes;
}

export function fdIdHash(id: string): string {
  return createHash('sha256').update(utf8(id)).digest('hex').slice(0, 32);
}

function escape(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) {
    out += b < 128 && PLAIN[b] === 1 ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** `kind` is a short tag of what the fd is (`log` for a log's pipe); `id` the identity of its owner. */
export function encodeFdName(kind: string, id: string): string {
  if (!KIND.test(kind)) throw nameError(`fd name kind ${JSON.stringify(kind)} must match ${KIND.source}`);
  const escaped = `${kind}.${escape(utf8(id))}`;
  return escaped.length <= FDNAME_MAX ? escaped : `${kind}#${fdIdHash(id)}`;
}

function unescape(text: string): string | null {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '%') {
      const hex = text.slice(i + 1, i + 3);
      if (!/^[0-9A-F]{2}$/.test(hex)) return null;
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(text.charCodeAt(i));
    }
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(new Uint8Array(bytes));
  } catch {
    return null;
  }
}

/** Parts of a name made by encodeFdName; null for any other name (only the canonical form decodes). */
export function decodeFdName(name: string): FdNameParts | null {
  const hashed = HASHED.exec(name);
  if (hashed) return { kind: hashed[1] ?? '', id: null, hash: hashed[2] ?? '' };
  const escaped = ESCAPED.exec(name);
  if (!escaped) return null;
  const kind = escaped[1] ?? '';
  const id = unescape(escaped[2] ?? '');
  if (id === null || id.length === 0 || encodeFdName(kind, id) !== name) return null;
  return { kind, id, hash: fdIdHash(id) };
}
