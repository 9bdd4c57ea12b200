// Body framing trackers. They never copy or change body bytes (the proxy forwards them as received):
// they only say where the body ends, so the bytes after it are the next pipelined message.
//
// ChunkedTracker enforces RFC 9112 §7.1 strictly: chunk-size is 1*16HEXDIG (no `0x`, sign, spaces),
// at most 2^53 - 1; chunk-ext is `*( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] )`,
// bounded; every line ends in CRLF (bare LF/CR rejected; nginx accepts bare LF and any junk after the
// size); chunk data must be followed by CRLF; trailer fields have header syntax, are bounded, and may
// not be Content-Length, Transfer-Encoding or Host (a backend that merged them would be confused).
import { equalsLower, CR, FIELD_VALUE, HEX, HTAB, LF, QDTEXT, SP, TOKEN } from './chars.js';
import { ERR, type Http1Error } from './errors.js';
import { ERROR, F_NAME_END, F_VALUE, F_VALUE_END, NEED_MORE, parseFieldLine } from './head-parser.js';

export { ERROR, NEED_MORE } from './head-parser.js';

export interface ChunkedLimits {
  /** Bytes of chunk-ext on one chunk line (after the size digits). */
  maxExtSize: number;
  /** The whole trailer section, CRLFs included. */
  maxTrailerSize: number;
  maxTrailerFields: number;
  /** Total chunk data (413 above). */
  maxBodySize: number;
}

export const DEFAULT_CHUNKED_LIMITS: ChunkedLimits = { maxExtSize: 1024, maxTrailerSize: 8192, maxTrailerFields: 32, maxBodySize: Number.MAX_SAFE_INTEGER };

const S_SIZE0 = 0; // first hex digit of a chunk-size
const S_SIZE = 1; // more digits, ext, or CR
const S_EXT = 2; // collecting chunk-ext bytes up to CR
const S_SIZE_LF = 3;
const S_DATA = 4;
const S_DATA_CR = 5;
const S_DATA_LF = 6;
const S_TRAILER0 = 7; // start of a trailer line (or the final CRLF)
const S_TRAILER = 8; // collecting a trailer line up to CR
const S_TRAILER_LF = 9;
const S_END_LF = 10;
const S_DONE = 11;
const S_ERROR = 12;

export class ChunkedTracker {
  error: Http1Error | null = null;
  /** Chunk data bytes seen so far (the decoded body length). */
  dataBytes = 0;
  /** Bytes of the whole chunked body so far, framing included. */
  wireBytes = 0;
  trailerFields = 0;
  /**
   * Decoding (HTTP/2 relays the body without HTTP/1.1's framing): called with each range of chunk
   * data as it is tracked. Undefined (the default): the framing is only tracked.
   */
  onData: ((chunk: Buffer, start: number, end: number) => void) | undefined;
  /** With `keepTrailers`, the trailer fields of the body, [name, value] as received. */
  keepTrailers = false;
  readonly trailers: Array<[string, string]> = [];
  private readonly limits: ChunkedLimits;
  private state = S_SIZE0;
  private size = 0;
  private digits = 0;
  private remaining = 0;
  private scratch: Buffer | null = null;
  private scratchLen = 0;
  private trailerBytes = 0;
  private readonly fieldOffsets: number[] = [];

  constructor(limits: Partial<ChunkedLimits> = {}) {
    this.limits = { ...DEFAULT_CHUNKED_LIMITS, ...limits };
  }

  reset(): void {
    this.error = null;
    this.dataBytes = 0;
    this.wireBytes = 0;
    this.trailerFields = 0;
    this.state = S_SIZE0;
    this.size = 0;
    this.digits = 0;
    this.remaining = 0;
    this.scratchLen = 0;
    this.trailerBytes = 0;
    this.trailers.length = 0;
  }

  get done(): boolean {
    return this.state === S_DONE;
  }

  /**
   * Tracks chunk[start, end). Returns NEED_MORE (all of it is body), ERROR (see `error`), or the
   * index just past the body's final CRLF: bytes from there on belong to the next message.
   */
  feed(chunk: Buffer, start = 0, end = chunk.length): number {
    if (this.state === S_DONE || this.state === S_ERROR) throw new Error('http1: ChunkedTracker.feed() after the end or an error; call reset()');
    let p = start;
    let state = this.state;
    while (p < end) {
      if (state === S_DATA) {
        const n = Math.min(this.remaining, end - p);
        if (this.onData !== undefined && n > 0) this.onData(chunk, p, p + n);
        this.remaining -= n;
        p += n;
        if (this.remaining === 0) state = S_DATA_CR;
        continue;
      }
      const b = chunk[p]!;
      p++;
      switch (state) {
        case S_SIZE0:
        case S_SIZE: {
          const d = HEX[b]!;
          if (d >= 0) {
            if (++this.digits > 16) return this.fail(ERR.BAD_CHUNK_SIZE, p, start);
            this.size = this.size * 16 + d;
            if (this.size > Number.MAX_SAFE_INTEGER) return this.fail(ERR.BAD_CHUNK_SIZE, p, start);
            state = S_SIZE;
          } else if (state === S_SIZE && b === CR) state = S_SIZE_LF;
          else if (state === S_SIZE && (b === 0x3b || b === SP || b === HTAB)) {
            state = S_EXT;
            this.scratchLen = 0;
            if (!this.collect(b, this.limits.maxExtSize)) return this.fail(ERR.BAD_CHUNK_EXT, p, start);
          } else if (b === LF) return this.fail(ERR.BARE_LF, p, start);
          else return this.fail(ERR.BAD_CHUNK_SIZE, p, start);
          break;
        }
        case S_EXT:
          if (b === CR) {
            if (!validExt(this.scratch!, this.scratchLen)) return this.fail(ERR.BAD_CHUNK_EXT, p, start);
            state = S_SIZE_LF;
          } else if (FIELD_VALUE[b] !== 1 || !this.collect(b, this.limits.maxExtSize)) return this.fail(b === LF ? ERR.BARE_LF : ERR.BAD_CHUNK_EXT, p, start);
          break;
        case S_SIZE_LF:
          if (b !== LF) return this.fail(ERR.BARE_CR, p, start);
          if (this.size === 0) state = S_TRAILER0;
          else {
            if (this.dataBytes + this.size > this.limits.maxBodySize) return this.fail(ERR.BODY_TOO_LARGE, p, start);
            this.dataBytes += this.size;
            this.remaining = this.size;
            state = S_DATA;
          }
          this.size = 0;
          this.digits = 0;
          break;
        case S_DATA_CR:
          if (b !== CR) return this.fail(ERR.BAD_CHUNK_DATA, p, start);
          state = S_DATA_LF;
          break;
        case S_DATA_LF:
          if (b !== LF) return this.fail(ERR.BAD_CHUNK_DATA, p, start);
          state = S_SIZE0;
          break;
        case S_TRAILER0:
          if (++this.trailerBytes > this.limits.maxTrailerSize) return this.fail(ERR.TRAILERS_TOO_LARGE, p, start);
          if (b === CR) state = S_END_LF;
          else if (b === LF) return this.fail(ERR.BARE_LF, p, start);
          else {
            this.scratchLen = 0;
            this.collect(b, this.limits.maxTrailerSize);
            state = S_TRAILER;
          }
          break;
        case S_TRAILER:
          if (++this.trailerBytes > this.limits.maxTrailerSize) return this.fail(ERR.TRAILERS_TOO_LARGE, p, start);
          if (b === CR) state = S_TRAILER_LF;
          else if (b === LF) return this.fail(ERR.BARE_LF, p, start);
          else this.collect(b, this.limits.maxTrailerSize);
          break;
        case S_TRAILER_LF: {
          if (++this.trailerBytes > this.limits.maxTrailerSize) return this.fail(ERR.TRAILERS_TOO_LARGE, p, start);
          if (b !== LF) return this.fail(ERR.BARE_CR, p, start);
          if (++this.trailerFields > this.limits.maxTrailerFields) return this.fail(ERR.TRAILERS_TOO_LARGE, p, start);
          const offsets = this.fieldOffsets;
          const s = this.scratch!;
          const err = parseFieldLine(s, 0, this.scratchLen, 0, offsets, 0);
          if (err !== null) return this.fail(ERR.BAD_TRAILER, p, start);
          const nameEnd = offsets[F_NAME_END]!;
          if (equalsLower(s, 0, nameEnd, 'content-length') || equalsLower(s, 0, nameEnd, 'transfer-encoding') || equalsLower(s, 0, nameEnd, 'host')) {
            return this.fail(ERR.BAD_TRAILER, p, start);
          }
          if (this.keepTrailers) this.trailers.push([s.toString('latin1', 0, nameEnd), s.toString('latin1', offsets[F_VALUE]!, offsets[F_VALUE_END]!)]);
          state = S_TRAILER0;
          break;
        }
        case S_END_LF:
          if (b !== LF) return this.fail(ERR.BARE_CR, p, start);
          this.state = S_DONE;
          this.wireBytes += p - start;
          return p;
      }
    }
    this.state = state;
    this.wireBytes += end - start;
    return NEED_MORE;
  }

  private collect(b: number, max: number): boolean {
    if (this.scratch === null) this.scratch = Buffer.allocUnsafe(Math.max(this.limits.maxExtSize, this.limits.maxTrailerSize));
    if (this.scratchLen >= max) return false;
    this.scratch[this.scratchLen++] = b;
    return true;
  }

  private fail(err: Http1Error, p: number, start: number): number {
    this.error = err;
    this.state = S_ERROR;
    this.wireBytes += p - start;
    return ERROR;
  }
}

/** chunk-ext grammar over s[0, n): `*( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] )`. */
function validExt(s: Buffer, n: number): boolean {
  let i = 0;
  const bws = (k: number): number => {
    while (k < n && (s[k] === SP || s[k] === HTAB)) k++;
    return k;
  };
  while (i < n) {
    let k = bws(i);
    if (k === n || s[k] !== 0x3b) return false; // trailing whitespace or not `;`
    k = bws(k + 1);
    const name = k;
    while (k < n && TOKEN[s[k]!] === 1) k++;
    if (k === name) return false;
    i = k;
    k = bws(k);
    if (k < n && s[k] === 0x3d) {
      k = bws(k + 1);
      if (k < n && s[k] === 0x22) {
        k++;
        for (;;) {
          if (k >= n) return false;
          const c = s[k]!;
          if (c === 0x22) break;
          if (c === 0x5c) {
            k++;
            if (k >= n || !(QDTEXT[s[k]!] === 1 || s[k] === 0x22 || s[k] === 0x5c)) return false;
          } else if (QDTEXT[c] !== 1) return false;
          k++;
        }
        i = k + 1;
      } else {
        const v = k;
        while (k < n && TOKEN[s[k]!] === 1) k++;
        if (k === v) return false;
        i = k;
      }
    }
  }
  return true;
}

/** Content-Length body: where it ends inside the chunks that carry it. */
export class LengthTracker {
  remaining: number;
  constructor(length: number) {
    this.remaining = length;
  }
  reset(length: number): void {
    this.remaining = length;
  }
  get done(): boolean {
    return this.remaining === 0;
  }
  /** NEED_MORE when all of chunk[start, end) is body, else the index just past the body's last byte. */
  feed(chunk: Buffer, start = 0, end = chunk.length): number {
    void chunk;
    const available = end - start;
    if (available < this.remaining) {
      this.remaining -= available;
      return NEED_MORE;
    }
    const at = start + this.remaining;
    this.remaining = 0;
    return at;
  }
}
