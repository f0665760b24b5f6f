import { createHash, randomFillSync } from 'node:crypto';

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz'; // Crockford base32, lower case

let lastTime = 0;
let lastRandom: Buffer = Buffer.alloc(0);

// random bytes drawn 4 KB at a time (as crypto.randomUUID does): one randomBytes(10) per id cost about 1.4 % of the
// main thread and 2 % of the writer thread per send; each id copies its 10 bytes out, so a refill changes none
const pool = Buffer.alloc(4096);
let poolOffset = pool.length;
function random10(): Buffer {
  if (poolOffset + 10 > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  poolOffset += 10;
  return Buffer.from(pool.subarray(poolOffset - 10, poolOffset));
}

/**
 * A time-sortable id (ULID-like, 26 chars, lower case): ids made later sort later,
 * also within one millisecond, so lists can page by id.
 */
export function newId(now = Date.now()): string {
  let rand: Buffer;
  if (now <= lastTime) {
    now = lastTime;
    rand = Buffer.from(lastRandom);
    for (let i = rand.length - 1; i >= 0; i--) {
      if (rand[i] < 255) {
        rand[i]++;
        break;
      }
      rand[i] = 0;
    }
  } else {
    rand = random10();
  }
  lastTime = now;
  lastRandom = rand;
  return encodeTime(now) + encodeBytes(rand);
}

function encodeTime(now: number): string {
  let time = '';
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32] + time;
    t = Math.floor(t / 32);
  }
  return time;
}

/** 16 characters from the first 10 bytes. */
function encodeBytes(bytes: Buffer): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes.subarray(0, 10)) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out.slice(0, 16);
}

/**
 * The same shape as newId, but the same inputs always give the same id: lets a
 * store without unique indexes (Cosmos DB) file a redelivered message onto the copy
 * it already has.
 */
export function deterministicId(time: number, seed: string): string {
  return encodeTime(Math.max(0, Math.floor(time))) + encodeBytes(createHash('sha256').update(seed).digest());
}

export function isId(value: string): boolean {
  return /^[0-9a-hjkmnp-tv-z]{26}$/.test(value);
}
