// Strict, incremental HTTP/1.1 response-head parser for upstream responses: backends are not trusted.
// The same line machinery and field rules as requests (no obs-fold, no CTLs, no bare CR/LF, size and
// count limits); framing per RFC 9112 §6.3, with every ambiguity an error (the proxy answers 502).
//
// - 1xx other than 101 are interim (`interim`): relay them and parse the next head (reset(), same
//   request). 101 is an upgrade; it is an error unless the request asked for one.
// - HEAD requests, 1xx, 204 and 304 have no body whatever the fields say (CL syntax is still checked).
// - Transfer-Encoding whose last coding is chunked: chunked; any other Transfer-Encoding: close-delimited;
//   Transfer-Encoding together with Content-Length, on an HTTP/1.0 response, or twice: error.
// - Content-Length twice (even equal), as a list, or not 1*DIGIT: error. None of them: close-delimited.
import { equalsLower, HTAB, SP, TOKEN } from './chars.js';
import { ERR, type Http1Error } from './errors.js';
import { F_NAME_END, F_VALUE, F_VALUE_END, FIELD_STRIDE, HeadParser, type HeadLimits, parseContentLength, parseFieldLine } from './head-parser.js';
import { HeadFields, NO_FIELDS } from './request-head.js';

export { ERROR, NEED_MORE } from './head-parser.js';

export type ResponseFraming = 'none' | 'length' | 'chunked' | 'close';

export class ResponseHead extends HeadFields {
  status = 0;
  versionMinor = 1;
  /** Reason phrase offsets (relative to base); usually not needed: the status line is copied raw. */
  reasonStart = 0;
  reasonEnd = 0;
  /** End of the status line (after CRLF), relative to base. */
  fieldsStart = 0;
  framing: ResponseFraming = 'none';
  contentLength = 0;
  /** The upstream connection may carry another request after this response. */
  keepAlive = true;
  /** 1xx other than 101: relay, then parse the final response. */
  interim = false;
  /** 101 Switching Protocols (to a request that asked to upgrade). */
  upgrade = false;
  connectionNamesOthers = false;
  get reason(): string {
    return this.buf.toString('latin1', this.base + this.reasonStart, this.base + this.reasonEnd);
  }
}

export interface ResponseContext {
  /** The request was HEAD: no body. */
  head: boolean;
  /** The request asked to upgrade: a 101 is allowed. */
  upgrade: boolean;
}

export class ResponseHeadParser extends HeadParser {
  head: ResponseHead | null = null;
  private context: ResponseContext = { head: false, upgrade: false };
  /** Offsets of the head being parsed; reused across heads (its first fieldLen entries count). */
  private readonly fields: number[] = [];
  private fieldLen = 0;
  private h: ResponseHead | null = null;
  private clField = -1;
  private teField = -1;
  private teChunked = false;
  private connClose = false;
  private connKeepAlive = false;

  constructor(limits: Partial<HeadLimits> = {}) {
    super(limits);
    this.upstream = true;
  }

  /** Ready for the response to a request: call before each response (and after each interim one). */
  expect(context: ResponseContext): void {
    this.reset();
    this.context = context;
  }

  protected override acceptsLeadingEmptyLines(): boolean {
    return false;
  }
  protected override badFirstLine(): Http1Error {
    return ERR.BAD_STATUS_LINE;
  }
  protected override lineTooLong(): Http1Error {
    return ERR.HEADER_LINE_TOO_LONG;
  }
  protected override resetHead(): void {
    this.head = null;
    this.fieldLen = 0;
    this.h = null;
    this.clField = -1;
    this.teField = -1;
    this.teChunked = false;
    this.connClose = false;
    this.connKeepAlive = false;
  }

  protected override firstLine(buf: Buffer, s: number, e: number): Http1Error | null {
    // HTTP/1.x SP 3DIGIT [SP reason-phrase]; the SP before an empty reason may be missing (nginx's
    // upstream module accepts that too).
    if (e - s < 12 || buf[s] !== 0x48 || buf[s + 1] !== 0x54 || buf[s + 2] !== 0x54 || buf[s + 3] !== 0x50 || buf[s + 4] !== 0x2f) return ERR.BAD_STATUS_LINE;
    if (buf[s + 5] !== 0x31 || buf[s + 6] !== 0x2e || (buf[s + 7] !== 0x30 && buf[s + 7] !== 0x31) || buf[s + 8] !== SP) return ERR.BAD_STATUS_LINE;
    let status = 0;
    for (let i = s + 9; i < s + 12; i++) {
      const d = buf[i]! - 0x30;
      if (d < 0 || d > 9) return ERR.BAD_STATUS_LINE;
      status = status * 10 + d;
    }
    if (status < 100 || status > 599) return ERR.BAD_STATUS_LINE;
    let r = s + 12;
    if (r < e) {
      if (buf[r] !== SP) return ERR.BAD_STATUS_LINE;
      r++;
      for (let i = r; i < e; i++) {
        const b = buf[i]!;
        // reason-phrase = 1*( HTAB / SP / VCHAR / obs-text )
        if (b !== HTAB && (b < 0x20 || b === 0x7f)) return ERR.BAD_STATUS_LINE;
      }
    }
    const head = new ResponseHead(buf, 0, 0, NO_FIELDS);
    head.status = status;
    head.versionMinor = buf[s + 7]! - 0x30;
    head.reasonStart = r - s;
    head.reasonEnd = e - s;
    this.h = head;
    return null;
  }

  protected override fieldLine(buf: Buffer, s: number, e: number, lineEnd: number, base: number): Http1Error | null {
    const fields = this.fields;
    const f = this.fieldLen;
    const index = f / FIELD_STRIDE;
    if (index >= this.limits.maxFields) return ERR.TOO_MANY_FIELDS;
    const err = parseFieldLine(buf, s, e, base, fields, f, true);
    if (err !== null) return err;
    this.fieldLen = f + FIELD_STRIDE;
    const nameEnd = base + fields[f + F_NAME_END]!;
    const vs = base + fields[f + F_VALUE]!;
    const ve = base + fields[f + F_VALUE_END]!;
    const n = nameEnd - s;
    if (n === 14 && equalsLower(buf, s, nameEnd, 'content-length')) {
      if (this.clField !== -1) return ERR.DUPLICATE_CL;
      const len = parseContentLength(buf, vs, ve);
      if (len < 0) return ERR.BAD_CL;
      this.clField = index;
      this.h!.contentLength = len;
    } else if (n === 17 && equalsLower(buf, s, nameEnd, 'transfer-encoding')) {
      if (this.teField !== -1) return ERR.DUPLICATE_TE;
      this.teField = index;
      const chunked = lastCodingIsChunked(buf, vs, ve);
      if (chunked === null) return ERR.UNSUPPORTED_TE;
      this.teChunked = chunked;
    } else if (n === 10 && equalsLower(buf, s, nameEnd, 'connection')) {
      let i = vs;
      while (i <= ve) {
        let j = i;
        while (j < ve && buf[j] !== 0x2c) j++;
        let a = i;
        let b = j;
        while (a < b && (buf[a] === SP || buf[a] === HTAB)) a++;
        while (b > a && (buf[b - 1] === SP || buf[b - 1] === HTAB)) b--;
        if (a < b) {
          if (equalsLower(buf, a, b, 'close')) this.connClose = true;
          else if (equalsLower(buf, a, b, 'keep-alive')) this.connKeepAlive = true;
          else if (!equalsLower(buf, a, b, 'upgrade')) this.h!.connectionNamesOthers = true;
        }
        i = j + 1;
      }
    }
    return null;
  }

  protected override finish(buf: Buffer, base: number, length: number): Http1Error | null {
    const head = this.h!;
    const status = head.status;
    if (this.teField !== -1 && this.clField !== -1) return ERR.CL_TE;
    if (this.teField !== -1 && head.versionMinor === 0) return ERR.TE_HTTP10;
    head.buf = buf;
    head.base = base;
    head.length = length;
    // The parser's array is reused for the next head; the head gets an exact-size copy.
    head.fields = this.fields.slice(0, this.fieldLen);
    head.fieldsStart = this.fieldLen > 0 ? this.fields[0]! : length - 2;
    head.keepAlive = head.versionMinor === 1 ? !this.connClose : this.connKeepAlive && !this.connClose;
    if (status < 200) {
      if (status === 101) {
        if (!this.context.upgrade) return ERR.UNEXPECTED_101;
        head.upgrade = true;
        head.keepAlive = false;
      } else head.interim = true;
      head.framing = 'none';
    } else if (this.context.head || status === 204 || status === 304) {
      head.framing = 'none';
    } else if (this.teField !== -1) {
      head.framing = this.teChunked ? 'chunked' : 'close';
    } else if (this.clField !== -1) {
      head.framing = 'length';
    } else {
      head.framing = 'close';
    }
    if (head.framing === 'close') head.keepAlive = false;
    if (head.framing !== 'length') head.contentLength = 0;
    this.head = head;
    return null;
  }
}

/**
 * Transfer-Encoding list buf[s, e): true when its last coding is `chunked` and `chunked` appears
 * nowhere else; false when chunked is absent; null when the list is malformed (a non-token coding,
 * chunked twice or not last). Transfer-coding parameters (`;q=…`) are not accepted.
 */
function lastCodingIsChunked(buf: Buffer, s: number, e: number): boolean | null {
  let i = s;
  let chunkedSeen = false;
  let last = false;
  let any = false;
  while (i <= e) {
    let j = i;
    while (j < e && buf[j] !== 0x2c) j++;
    let a = i;
    let b = j;
    while (a < b && (buf[a] === SP || buf[a] === HTAB)) a++;
    while (b > a && (buf[b - 1] === SP || buf[b - 1] === HTAB)) b--;
    if (a < b) {
      for (let k = a; k < b; k++) if (TOKEN[buf[k]!] !== 1) return null;
      if (chunkedSeen) return null; // something after chunked
      any = true;
      last = equalsLower(buf, a, b, 'chunked');
      if (last) chunkedSeen = true;
    }
    i = j + 1;
  }
  if (!any) return null;
  return last;
}
