// Request ids: random UUIDs (version 4, RFC 9562), one per proxied request. crypto.randomUUID()
// builds its string from ~20 concatenations (~580 bytes of short-lived V8 garbage per call, a
// tenth of what the engine allocated per request); this writes the 36 ASCII bytes into one scratch
// buffer and decodes it once. The randomness is the same: a pool of randomFillSync bytes.
import { randomFillSync } from 'node:crypto';

const POOL_IDS = 256;
const HEX = Buffer.from('0123456789abcdef', 'latin1');
const pool = Buffer.allocUnsafe(16 * POOL_IDS);
let poolAt = pool.length;
const text = Buffer.allocUnsafe(36);

/** A new random version-4 UUID in lower-case hex, `xxxxxxxx-xxxx-4xxx-[89ab]xxx-xxxxxxxxxxxx`. */
export function newRequestId(): string {
  if (poolAt === pool.length) {
    randomFillSync(pool);
    poolAt = 0;
  }
  let out = 0;
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) text[out++] = 0x2d;
    let byte = pool[poolAt + i]!;
    if (i === 6) byte = (byte & 0x0f) | 0x40; // version 4
    else if (i === 8) byte = (byte & 0x3f) | 0x80; // variant 10xx
    text[out++] = HEX[byte >> 4]!;
    text[out++] = HEX[byte & 0x0f]!;
  }
  poolAt += 16;
  return text.toString('latin1', 0, 36);
}
