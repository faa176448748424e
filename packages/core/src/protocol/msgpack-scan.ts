// Structural check of an untrusted msgpack body before msgpackr decodes it: every declared length must
// fit in the bytes that are left, nesting is bounded, extension types are refused (we never send any, and
// msgpackr would turn some into Error/RegExp/Set objects), map keys are strings (all our maps are records),
// and the body holds exactly one value.
// After this pass the decoder cannot be made to allocate more than the body's own size or to recurse deeply.
import { LwError } from './errors.js';

function malformed(reason: string, at: number): LwError {
  return new LwError('LW_ERR_PROTO_MALFORMED', `malformed msgpack: ${reason} at byte ${at}`, { at });
}

/** Fixed payload sizes of the scalar type bytes 0xc0..0xdf (-1 = not a fixed-size scalar). */
const FIXED = new Int8Array(32).fill(-1);
FIXED[0xc0 - 0xc0] = 0; // nil
FIXED[0xc2 - 0xc0] = 0; // false
FIXED[0xc3 - 0xc0] = 0; // true
FIXED[0xca - 0xc0] = 4; // float32
FIXED[0xcb - 0xc0] = 8; // float64
FIXED[0xcc - 0xc0] = 1; // uint8
FIXED[0xcd - 0xc0] = 2;
FIXED[0xce - 0xc0] = 4;
FIXED[0xcf - 0xc0] = 8;
FIXED[0xd0 - 0xc0] = 1; // int8
FIXED[0xd1 - 0xc0] = 2;
FIXED[0xd2 - 0xc0] = 4;
FIXED[0xd3 - 0xc0] = 8;

export function scanMsgpack(buf: Uint8Array, maxDepth: number): void {
  const end = buf.length;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const stack: { remaining: number; isMap: boolean }[] = [];
  let pos = 0;
  let remaining = 1; // values still expected at the current nesting level
  let isMap = false;

  const need = (n: number, at: number): void => {
    if (n > end - pos) throw malformed('truncated value', at);
  };
  const open = (items: number, map: boolean, at: number): void => {
    // Every item takes at least one byte: a count the rest of the body cannot hold is a lie.
    if (items > end - pos) throw malformed('container longer than the body', at);
    if (items === 0) return;
    if (stack.length >= maxDepth) throw malformed('nesting too deep', at);
    stack.push({ remaining, isMap });
    remaining = items;
    isMap = map;
  };
  const length = (size: 1 | 2 | 4, at: number): number => {
    need(size, at);
    const n = size === 1 ? view.getUint8(pos) : size === 2 ? view.getUint16(pos) : view.getUint32(pos);
    pos += size;
    return n;
  };

  for (;;) {
    if (remaining === 0) {
      const up = stack.pop();
      if (up === undefined) break;
      ({ remaining, isMap } = up);
      continue;
    }
    const at = pos;
    if (pos >= end) throw malformed('truncated value', at);
    const b = buf[pos++] ?? 0;
    // In a map, values alternate key, value: an even count left means a key comes next.
    if (isMap && remaining % 2 === 0 && !((b >= 0xa0 && b <= 0xbf) || (b >= 0xd9 && b <= 0xdb))) {
      throw malformed('map key is not a string', at);
    }
    remaining--;
    if (b <= 0x7f || b >= 0xe0) continue; // fixint
    if (b <= 0x8f) {
      open((b & 0x0f) * 2, true, at);
      continue;
    }
    if (b <= 0x9f) {
      open(b & 0x0f, false, at);
      continue;
    }
    if (b <= 0xbf) {
      need(b & 0x1f, at);
      pos += b & 0x1f;
      continue;
    }
    const fixed = FIXED[b - 0xc0] ?? -1;
    if (fixed >= 0) {
      need(fixed, at);
      pos += fixed;
      continue;
    }
    switch (b) {
      case 0xc4: // bin8/16/32
      case 0xd9: // str8/16/32
      case 0xc5:
      case 0xda:
      case 0xc6:
      case 0xdb: {
        const size = b === 0xc4 || b === 0xd9 ? 1 : b === 0xc5 || b === 0xda ? 2 : 4;
        const n = length(size, at);
        need(n, at);
        pos += n;
        continue;
      }
      case 0xdc:
        open(length(2, at), false, at);
        continue;
      case 0xdd:
        open(length(4, at), false, at);
        continue;
      case 0xde:
        open(length(2, at) * 2, true, at);
        continue;
      case 0xdf:
        open(length(4, at) * 2, true, at);
        continue;
      default:
        // 0xc1 (never used), ext 0xc7..0xc9 and fixext 0xd4..0xd8.
        throw malformed(b === 0xc1 ? 'reserved type byte' : 'extension types are not allowed', at);
    }
  }
  if (pos !== end) throw malformed('trailing bytes after the message', pos);
}
