// The incremental line machinery shared by the request and response head parsers: it finds CRLF-ended
// lines across chunk boundaries, enforces the line/head size limits, and hands each complete line to
// the subclass. A head that arrives in one chunk is parsed in place (no copy); one split across chunks
// is accumulated into one owned buffer, at most maxHeadSize bytes.
import { COLON, CR, FIELD_VALUE, HTAB, LF, SP, TOKEN } from './chars.js';
import { asUpstreamError, ERR, type Http1Error } from './errors.js';

/** `feed` results other than a body offset (>= 0). */
export const NEED_MORE = -1;
export const ERROR = -2;

/**
 * Offsets of one field line, relative to the head start; FIELD_STRIDE numbers per field. A line ends
 * where the next begins (the last one: two bytes before the head's end).
 */
export const FIELD_STRIDE = 4;
export const F_LINE = 0; // first byte of the line (= first byte of the name)
export const F_NAME_END = 1;
export const F_VALUE = 2; // value without leading OWS
export const F_VALUE_END = 3; // value without trailing OWS

export interface HeadLimits {
  /** Longest request/status line or field line, CRLF included (nginx large_client_header_buffers: 8k). */
  maxLineSize: number;
  /** Whole head, leading empty lines excluded (nginx: 4 × 8k buffers). */
  maxHeadSize: number;
  /** Field lines (HAProxy tune.http.maxhdr: 101). */
  maxFields: number;
}

export const DEFAULT_HEAD_LIMITS: HeadLimits = { maxLineSize: 8192, maxHeadSize: 32768, maxFields: 100 };

/**
 * Validates one field line buf[s, e) (CRLF excluded) and writes its offsets (relative to `base`)
 * to fields[at, at + FIELD_STRIDE). Returns null or the error. Shared by headers (`checked`: bytes already validated)
 * and chunked trailers.
 */
export function parseFieldLine(buf: Buffer, s: number, e: number, base: number, fields: number[], at: number, checked = false): Http1Error | null {
  const first = buf[s]!;
  if (first === SP || first === HTAB) return ERR.OBS_FOLD;
  let i = s;
  while (i < e && TOKEN[buf[i]!] === 1) i++;
  if (i === e) return ERR.BAD_FIELD_NAME;
  const c = buf[i]!;
  if (c !== COLON) return c === SP || c === HTAB ? ERR.SPACE_BEFORE_COLON : ERR.BAD_FIELD_NAME;
  if (i === s) return ERR.BAD_FIELD_NAME;
  const nameEnd = i;
  i++;
  while (i < e && (buf[i] === SP || buf[i] === HTAB)) i++;
  const valueStart = i;
  let valueEnd = e;
  if (!checked) {
    // `checked`: the head scanner already validated every byte of the line.
    for (; i < e; i++) if (FIELD_VALUE[buf[i]!] !== 1) return ERR.BAD_FIELD_VALUE;
  }
  while (valueEnd > valueStart && (buf[valueEnd - 1] === SP || buf[valueEnd - 1] === HTAB)) valueEnd--;
  fields[at] = s - base;
  fields[at + 1] = nameEnd - base;
  fields[at + 2] = valueStart - base;
  fields[at + 3] = valueEnd - base;
  return null;
}

export abstract class HeadParser {
  /** Set when feed() returned ERROR. */
  error: Http1Error | null = null;
  protected readonly limits: HeadLimits;
  /** An incomplete head, copied out of earlier chunks; null while the head is parsed in place. */
  private acc: Buffer | null = null;
  private accLen = 0;
  /** Next line's start, relative to the head start. */
  private lineStart = 0;
  /** Where the scan for the current line's end resumes, relative to the head start. */
  private scanFrom = 0;
  private lineNo = 0;
  /** Bytes of leading empty lines skipped, and whether a CR of one is pending. */
  private skipped = 0;
  private skipCR = false;
  private done = false;

  constructor(limits: Partial<HeadLimits> = {}) {
    this.limits = { ...DEFAULT_HEAD_LIMITS, ...limits };
  }

  /** Ready for the next head on the connection. */
  reset(): void {
    this.error = null;
    this.acc = null;
    this.accLen = 0;
    this.lineStart = 0;
    this.scanFrom = 0;
    this.lineNo = 0;
    this.skipped = 0;
    this.skipCR = false;
    this.done = false;
    this.resetHead();
  }

  /**
   * Feeds chunk[start, end). Returns NEED_MORE (every byte consumed, head incomplete), ERROR (see
   * `error`; the connection must be answered and closed), or the index in `chunk` where the body (or
   * the next pipelined message) starts; the head is then available from the subclass. After a head
   * or an error, call reset() before feeding the next message.
   */
  feed(chunk: Buffer, start = 0, end = chunk.length): number {
    if (this.done) throw new Error('http1: feed() after a complete head or an error; call reset()');
    let p = start;
    if (this.lineNo === 0 && this.accLen === 0 && this.acceptsLeadingEmptyLines()) {
      // RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request-line.
      while (p < end) {
        const b = chunk[p]!;
        if (this.skipCR) {
          if (b !== LF) return this.fail(ERR.BARE_CR);
          this.skipCR = false;
        } else if (b === CR) this.skipCR = true;
        else if (b === LF) return this.fail(ERR.BARE_LF);
        else break;
        p++;
        if (++this.skipped > this.limits.maxLineSize) return this.fail(ERR.HEAD_TOO_LARGE);
      }
      if (p === end) return NEED_MORE;
      if (this.skipCR) return this.fail(ERR.BARE_CR);
    }
    let buf: Buffer;
    let base: number;
    let limit: number;
    const before = this.accLen;
    if (before === 0) {
      buf = chunk;
      base = p;
      limit = end;
    } else {
      // Append no more than the head may still need: body bytes stay in the caller's chunk.
      const room = this.limits.maxHeadSize - before;
      const n = Math.min(end - p, room + 1);
      this.ensure(before + n);
      chunk.copy(this.acc!, before, p, p + n);
      this.accLen = before + n;
      buf = this.acc!;
      base = 0;
      limit = this.accLen;
    }
    const r = this.scan(buf, base, limit);
    if (r === ERROR) return ERROR;
    if (r === NEED_MORE) {
      if (before === 0) {
        const n = end - p;
        this.ensure(n);
        chunk.copy(this.acc!, 0, p, end);
        this.accLen = n;
      }
      return NEED_MORE;
    }
    // r: head length relative to its start.
    this.done = true;
    const err = this.finish(buf, base, r);
    this.acc = null;
    this.accLen = 0;
    if (err !== null) {
      this.error = this.upstream ? asUpstreamError(err) : err;
      return ERROR;
    }
    return before === 0 ? base + r : p + (r - before);
  }

  private ensure(n: number): void {
    if (this.acc !== null && this.acc.length >= n) return;
    const size = Math.min(Math.max(n * 2, 1024), this.limits.maxHeadSize + 1);
    const next = Buffer.allocUnsafe(Math.max(size, n));
    if (this.acc !== null) this.acc.copy(next, 0, 0, this.accLen);
    this.acc = next;
  }

  /** Responses: every error is reported with status 502 (the upstream's fault). */
  protected upstream = false;

  protected fail(err: Http1Error): number {
    this.error = this.upstream ? asUpstreamError(err) : err;
    this.done = true;
    return ERROR;
  }

  /**
   * Returns the head length (relative to base) once the empty line is seen, NEED_MORE or ERROR.
   * One pass per byte: the FIELD_VALUE table both validates line bytes (no NUL, CTL, DEL) and stops
   * at the CR (or the bad byte) that ends the line; an incomplete line resumes where it stopped, so
   * a head fed one byte at a time costs no more than one fed whole.
   */
  private scan(buf: Buffer, base: number, limit: number): number {
    const { maxLineSize, maxHeadSize } = this.limits;
    let ls = base + this.lineStart;
    for (;;) {
      let i = base + this.scanFrom;
      while (i < limit && FIELD_VALUE[buf[i]!] === 1) i++;
      if (i - ls + 2 > maxLineSize) return this.fail(this.lineNo === 0 ? this.lineTooLong() : ERR.HEADER_LINE_TOO_LONG);
      if (i - base + 2 > maxHeadSize) return this.fail(ERR.HEAD_TOO_LARGE);
      if (i === limit || (buf[i] === CR && i + 1 === limit)) {
        this.lineStart = ls - base;
        this.scanFrom = i - base;
        return NEED_MORE;
      }
      const b = buf[i]!;
      if (b === LF) return this.fail(ERR.BARE_LF);
      if (b !== CR) return this.fail(this.lineNo === 0 ? this.badFirstLine() : ERR.BAD_FIELD_VALUE);
      if (buf[i + 1] !== LF) return this.fail(ERR.BARE_CR);
      const lineEnd = i + 2;
      if (i === ls && this.lineNo > 0) return lineEnd - base;
      const err = this.lineNo === 0 ? this.firstLine(buf, ls, i) : this.fieldLine(buf, ls, i, lineEnd, base);
      if (err !== null) return this.fail(err);
      this.lineNo++;
      ls = lineEnd;
      this.scanFrom = ls - base;
    }
  }

  protected abstract acceptsLeadingEmptyLines(): boolean;
  protected abstract lineTooLong(): Http1Error;
  /** A NUL, CTL or DEL in the first line. */
  protected abstract badFirstLine(): Http1Error;
  protected abstract resetHead(): void;
  protected abstract firstLine(buf: Buffer, s: number, e: number): Http1Error | null;
  protected abstract fieldLine(buf: Buffer, s: number, e: number, lineEnd: number, base: number): Http1Error | null;
  /** The empty line was seen: head is buf[base, base + length). */
  protected abstract finish(buf: Buffer, base: number, length: number): Http1Error | null;
}

/** Latin-1 text of buf[s, e): one byte, one UTF-16 unit, as received. */
export function latin1(buf: Buffer, s: number, e: number): string {
  return buf.toString('latin1', s, e);
}

/** Parses a Content-Length value buf[s, e): digits only, at most 2^53 - 1; -1 when invalid. */
export function parseContentLength(buf: Buffer, s: number, e: number): number {
  if (s === e || e - s > 16) return -1;
  let n = 0;
  for (let i = s; i < e; i++) {
    const d = buf[i]! - 0x30;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n > Number.MAX_SAFE_INTEGER ? -1 : n;
}
