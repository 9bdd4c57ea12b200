// Strict, incremental HTTP/1.1 request-head parser (RFC 9112 / RFC 9110), never more permissive
// than nginx 1.22 (test/http1/nginx-differential.test.ts checks it against a real nginx).
//
// Usage, per connection:
//   const parser = new RequestHeadParser();
//   const at = parser.feed(chunk);            // NEED_MORE | ERROR | body offset in chunk
//   if (at >= 0) { const head = parser.head!; …; parser.reset(); }
//
// Decisions where RFC 9112 leaves room. Each has a row in test/http1/request-head.test.ts; where
// nginx accepts and this parser refuses, the row in test/http1/nginx-differential.test.ts says why.
// - Bare LF line endings are rejected (400 BARE_LF). nginx accepts them and RFC 9112 §2.2 says a
//   recipient MAY; a proxy that accepts what its backend may not is a smuggling vector.
// - Leading empty lines (CRLF) before the request line are skipped, as nginx does (bounded).
// - Methods are 1*[A-Z_-], at most 32 bytes: nginx's alphabet (it refuses `get`), narrower than token.
// - Limits (options): a line over 8 KiB is 414 (request line) or 431 (field line), a head over
//   32 KiB is 431, more than 100 field lines is 431. nginx: 414 / 400 for the first two, no count.
// - Exactly one SP between request-line parts and none at its end (nginx accepts more).
// - HTTP/1.0 and HTTP/1.1 only; any other well-formed version is 505 (nginx serves HTTP/1.2 as 1.1).
// - Transfer-Encoding must be exactly `chunked` (501 otherwise, as nginx); on HTTP/1.0 it is 400 (nginx).
// - Content-Length: 1*DIGIT (leading zeros allowed, as nginx), no list, no second line.
// - Host: required on HTTP/1.1, exactly once, `reg-name | IPv4 | IP-literal` with an optional port;
//   `%`, empty labels (`a..b`, `.a`) and an empty value are refused. An absolute-form authority
//   replaces it for routing, but the Host line must still be there and valid (nginx: the same).
// - `#` in the target, `.`/`..` path segments (also as %2e) and invalid %-escapes in the path are 400:
//   routing looks at the raw path, so a path a backend would normalise differently is refused.
// - Field names must be tokens (nginx ignores invalid names instead); values may not hold CTLs
//   other than HTAB (nginx only refuses NUL and CR).
// - Expect: only `100-continue`, else 417 (nginx ignores unknown expectations).
// - asterisk-form (OPTIONS *) and authority-form (CONNECT) are parsed and classified but refused
//   (400 TARGET_FORM) unless enabled: nginx refuses both.
import { equalsLower, HEX, HTAB, IP_LITERAL, METHOD, REG_NAME, SP, TARGET } from './chars.js';
import { ERR, type Http1Error } from './errors.js';
import {
  DEFAULT_HEAD_LIMITS,
  F_LINE,
  F_NAME_END,
  F_VALUE,
  F_VALUE_END,
  FIELD_STRIDE,
  HeadParser,
  type HeadLimits,
  latin1,
  parseContentLength,
  parseFieldLine,
} from './head-parser.js';

export { ERROR, NEED_MORE } from './head-parser.js';

export type TargetForm = 'origin' | 'absolute' | 'asterisk' | 'authority';
export type RequestFraming = 'none' | 'length' | 'chunked';

export interface RequestParserOptions extends HeadLimits {
  /** Accept `OPTIONS * HTTP/1.1` (nginx does not). */
  allowAsterisk: boolean;
  /** Accept `CONNECT host:port` (nginx does not). */
  allowConnect: boolean;
  /** Largest Content-Length accepted (413 above); chunked bodies are bounded by ChunkedTracker. */
  maxBodySize: number;
}

export const DEFAULT_REQUEST_OPTIONS: RequestParserOptions = {
  ...DEFAULT_HEAD_LIMITS,
  allowAsterisk: false,
  allowConnect: false,
  maxBodySize: Number.MAX_SAFE_INTEGER,
};

/** Fields and their offsets; the common part of request and response heads. */
/** Shared placeholder until a head is complete. */
export const NO_FIELDS: readonly number[] = Object.freeze([]);

export class HeadFields {
  /**
   * The head's bytes are buf[base, base + length): the caller's chunk when the head arrived in one,
   * else a buffer of the parser's own. Do not reuse the chunk while the head is in use.
   */
  buf: Buffer;
  base: number;
  length: number;
  /** FIELD_STRIDE offsets per field line (relative to base), in received order. */
  fields: readonly number[];
  constructor(buf: Buffer, base: number, length: number, fields: readonly number[]) {
    this.buf = buf;
    this.base = base;
    this.length = length;
    this.fields = fields;
  }
  get fieldCount(): number {
    return this.fields.length / FIELD_STRIDE;
  }
  /** Just past field line i's CRLF, relative to base. */
  lineEnd(i: number): number {
    const next = (i + 1) * FIELD_STRIDE;
    return next < this.fields.length ? this.fields[next]! : this.length - 2;
  }
  /** Field name i as received (original case). */
  name(i: number): string {
    const f = i * FIELD_STRIDE;
    return latin1(this.buf, this.base + this.fields[f + F_LINE]!, this.base + this.fields[f + F_NAME_END]!);
  }
  /** Field value i without surrounding OWS, as Latin-1. */
  value(i: number): string {
    const f = i * FIELD_STRIDE;
    return latin1(this.buf, this.base + this.fields[f + F_VALUE]!, this.base + this.fields[f + F_VALUE_END]!);
  }
  /** True when field i's name equals `lower` (lower-case) ignoring case. */
  nameIs(i: number, lower: string): boolean {
    const f = i * FIELD_STRIDE;
    return equalsLower(this.buf, this.base + this.fields[f + F_LINE]!, this.base + this.fields[f + F_NAME_END]!, lower);
  }
  /** Index of the first field named `lower` (lower-case), or -1. */
  indexOf(lower: string): number {
    for (let i = 0, n = this.fieldCount; i < n; i++) if (this.nameIs(i, lower)) return i;
    return -1;
  }
  /** Value of the first field named `lower`, or undefined. */
  get(lower: string): string | undefined {
    const i = this.indexOf(lower);
    return i === -1 ? undefined : this.value(i);
  }
  /** [name, value] pairs in order, original case: for tests and slow paths. */
  entries(): [string, string][] {
    const out: [string, string][] = [];
    for (let i = 0, n = this.fieldCount; i < n; i++) out.push([this.name(i), this.value(i)]);
    return out;
  }
}

export class RequestHead extends HeadFields {
  method = '';
  /** The request-target exactly as received. */
  target = '';
  form: TargetForm = 'origin';
  /** Path is target.slice(pathStart, queryStart); the query (with `?`) is target.slice(queryStart). */
  pathStart = 0;
  queryStart = 0;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  versionMinor = 1;
  /** Host header value, or the absolute-form authority, as received ('' for HTTP/1.0 without Host). */
  host = '';
  /** Index of the Host field line, -1 when none. */
  hostField = -1;
  framing: RequestFraming = 'none';
  /** Content-Length when framing is 'length', else 0. */
  contentLength = 0;
  keepAlive = true;
  /** HTTP/1.1, `Connection: upgrade` and an Upgrade field: the value of `upgradeField` is the protocol list. */
  upgrade = false;
  upgradeField = -1;
  expectContinue = false;
  /** The Connection field names a header other than close/keep-alive/upgrade (it is hop-by-hop). */
  connectionNamesOthers = false;
  /** Index of the request line's end (after CRLF), relative to base: field lines start here. */
  fieldsStart = 0;
  get path(): string {
    return this.target.slice(this.pathStart, this.queryStart);
  }
  get query(): string {
    return this.target.slice(this.queryStart);
  }
}

function internMethod(buf: Buffer, s: number, e: number): string {
  const n = e - s;
  const c = buf[s];
  if (n === 3) {
    if (c === 0x47 && buf[s + 1] === 0x45 && buf[s + 2] === 0x54) return 'GET';
    if (c === 0x50 && buf[s + 1] === 0x55 && buf[s + 2] === 0x54) return 'PUT';
  } else if (n === 4) {
    if (equalsUpper(buf, s, 'POST')) return 'POST';
    if (equalsUpper(buf, s, 'HEAD')) return 'HEAD';
  } else if (n === 6 && equalsUpper(buf, s, 'DELETE')) return 'DELETE';
  else if (n === 7) {
    if (equalsUpper(buf, s, 'OPTIONS')) return 'OPTIONS';
    if (equalsUpper(buf, s, 'CONNECT')) return 'CONNECT';
  } else if (n === 5 && equalsUpper(buf, s, 'PATCH')) return 'PATCH';
  return latin1(buf, s, e);
}

/** buf[s, e) is `text`'s Latin-1 bytes. */
function sameLatin1(buf: Buffer, s: number, e: number, text: string): boolean {
  if (e - s !== text.length) return false;
  for (let i = 0; i < text.length; i++) if (buf[s + i] !== text.charCodeAt(i)) return false;
  return true;
}

function equalsUpper(buf: Buffer, s: number, word: string): boolean {
  for (let i = 0; i < word.length; i++) if (buf[s + i] !== word.charCodeAt(i)) return false;
  return true;
}

/**
 * `uri-host [ ":" port ]` (RFC 9110 §7.2): IP-literal, or reg-name/IPv4 bytes without `%` and
 * without empty labels (one trailing dot allowed); port 0-65535, may be empty unless requirePort.
 */
export function isValidHost(buf: Buffer, s: number, e: number, requirePort = false): boolean {
  if (s >= e) return false;
  let i = s;
  if (buf[i] === 0x5b) {
    i++;
    while (i < e && IP_LITERAL[buf[i]!] === 1) i++;
    if (i === e || buf[i] !== 0x5d || i === s + 1) return false;
    i++;
  } else {
    let label = 0;
    while (i < e && buf[i] !== 0x3a) {
      const b = buf[i]!;
      if (REG_NAME[b] !== 1) return false;
      if (b === 0x2e) {
        if (label === 0) return false;
        label = 0;
      } else label++;
      i++;
    }
    if (i === s) return false;
  }
  if (i === e) return !requirePort;
  if (buf[i] !== 0x3a) return false;
  i++;
  if (i === e) return !requirePort;
  if (e - i > 5) return false;
  let port = 0;
  for (; i < e; i++) {
    const d = buf[i]! - 0x30;
    if (d < 0 || d > 9) return false;
    port = port * 10 + d;
  }
  return port <= 65535;
}

/** Path buf[s, e): valid %-escapes, no `.` or `..` segment (raw or %2e). */
function isSafePath(buf: Buffer, s: number, e: number): boolean {
  let units = 0; // characters in the segment so far (an escape counts as one)
  let dots = true; // every one of them is a dot
  for (let i = s; i <= e; i++) {
    const b = i === e ? 0x2f : buf[i]!;
    if (b === 0x2f) {
      if (dots && (units === 1 || units === 2)) return false;
      units = 0;
      dots = true;
      continue;
    }
    units++;
    if (b === 0x25) {
      if (i + 2 >= e || HEX[buf[i + 1]!]! < 0 || HEX[buf[i + 2]!]! < 0) return false;
      if (buf[i + 1] !== 0x32 || (buf[i + 2]! | 0x20) !== 0x65) dots = false;
      i += 2;
    } else if (b !== 0x2e) dots = false;
  }
  return true;
}

export class RequestHeadParser extends HeadParser {
  /** The parsed head once feed() returned a body offset; null before. */
  head: RequestHead | null = null;
  private readonly options: RequestParserOptions;
  // Per-head state.
  /** Offsets of the head being parsed; reused across heads (its first fieldLen entries count). */
  private readonly fields: number[] = [];
  private fieldLen = 0;
  private h: RequestHead | null = null;
  private hostCount = 0;
  private clField = -1;
  private teField = -1;
  private teChunked = false;
  private connClose = false;
  private connKeepAlive = false;
  private connUpgrade = false;
  private badExpect = false;
  /**
   * The previous head's target and Host value: a keep-alive connection mostly repeats them, and
   * comparing the bytes costs less than decoding a new string.
   */
  private lastTarget = '';
  private lastHost = '';

  constructor(options: Partial<RequestParserOptions> = {}) {
    const all = { ...DEFAULT_REQUEST_OPTIONS, ...options };
    super(all);
    this.options = all;
  }

  protected override acceptsLeadingEmptyLines(): boolean {
    return true;
  }
  protected override badFirstLine(): Http1Error {
    return ERR.BAD_REQUEST_LINE;
  }
  protected override lineTooLong(): Http1Error {
    return ERR.URI_TOO_LONG;
  }
  protected override resetHead(): void {
    this.head = null;
    this.fieldLen = 0;
    this.h = null;
    this.hostCount = 0;
    this.clField = -1;
    this.teField = -1;
    this.teChunked = false;
    this.connClose = false;
    this.connKeepAlive = false;
    this.connUpgrade = false;
    this.badExpect = false;
  }

  protected override firstLine(buf: Buffer, s: number, e: number): Http1Error | null {
    let i = s;
    while (i < e && METHOD[buf[i]!] === 1) i++;
    if (i === s || i - s > 32 || (i < e && buf[i] !== SP)) return ERR.BAD_METHOD;
    if (i === e) return ERR.BAD_REQUEST_LINE;
    const method = internMethod(buf, s, i);
    const t0 = ++i;
    while (i < e && TARGET[buf[i]!] === 1) i++;
    const t1 = i;
    if (t1 === t0) return ERR.BAD_REQUEST_LINE;
    if (i < e && buf[i] !== SP) return buf[i] === HTAB ? ERR.BAD_REQUEST_LINE : ERR.BAD_TARGET;
    if (i === e) return ERR.BAD_REQUEST_LINE; // HTTP/0.9 `GET /`
    const v = i + 1;
    if (e - v !== 8 || !equalsUpper(buf, v, 'HTTP/') || buf[v + 6] !== 0x2e) return ERR.BAD_VERSION;
    const major = buf[v + 5]! - 0x30;
    const minor = buf[v + 7]! - 0x30;
    if (major < 0 || major > 9 || minor < 0 || minor > 9) return ERR.BAD_VERSION;
    if (major !== 1 || minor > 1) return ERR.VERSION_NOT_SUPPORTED;

    const head = new RequestHead(buf, 0, 0, NO_FIELDS);
    head.method = method;
    head.versionMinor = minor;
    let pathStart = t0;
    let pathEnd = t1;
    const c0 = buf[t0];
    if (c0 === 0x2f) {
      head.form = 'origin';
    } else if (c0 === 0x2a && t1 - t0 === 1) {
      if (method !== 'OPTIONS' || !this.options.allowAsterisk) return ERR.TARGET_FORM;
      head.form = 'asterisk';
      pathStart = pathEnd = t1;
    } else if (method === 'CONNECT') {
      if (!isValidHost(buf, t0, t1, true)) return ERR.BAD_TARGET;
      if (!this.options.allowConnect) return ERR.TARGET_FORM;
      head.form = 'authority';
      head.host = latin1(buf, t0, t1);
      pathStart = pathEnd = t1;
    } else {
      // absolute-form: http(s)://authority[path-abempty][?query]
      let j = t0;
      if (j + 4 <= t1 && equalsLower(buf, j, j + 4, 'http')) j += 4;
      else return ERR.BAD_TARGET;
      if (j < t1 && (buf[j]! | 0x20) === 0x73) j++;
      if (t1 - j < 3 || buf[j] !== 0x3a || buf[j + 1] !== 0x2f || buf[j + 2] !== 0x2f) return ERR.BAD_TARGET;
      const a0 = j + 3;
      let a1 = a0;
      while (a1 < t1 && buf[a1] !== 0x2f && buf[a1] !== 0x3f) a1++;
      if (!isValidHost(buf, a0, a1)) return ERR.BAD_HOST;
      head.form = 'absolute';
      head.host = latin1(buf, a0, a1);
      pathStart = a1;
    }
    if (head.form === 'origin' || head.form === 'absolute') {
      pathEnd = pathStart;
      while (pathEnd < t1 && buf[pathEnd] !== 0x3f) pathEnd++;
      if (!isSafePath(buf, pathStart, pathEnd)) return ERR.BAD_PATH;
    }
    head.target = this.lastTarget = sameLatin1(buf, t0, t1, this.lastTarget) ? this.lastTarget : t1 - t0 === 1 ? String.fromCharCode(buf[t0]!) : latin1(buf, t0, t1);
    head.pathStart = pathStart - t0;
    head.queryStart = pathEnd - t0;
    this.h = head;
    return null;
  }

  protected override fieldLine(buf: Buffer, s: number, e: number, lineEnd: number, base: number): Http1Error | null {
    const fields = this.fields;
    const f = this.fieldLen;
    const index = f / FIELD_STRIDE;
    if (index >= this.options.maxFields) return ERR.TOO_MANY_FIELDS;
    const err = parseFieldLine(buf, s, e, base, fields, f, true);
    if (err !== null) return err;
    this.fieldLen = f + FIELD_STRIDE;
    const nameEnd = base + fields[f + F_NAME_END]!;
    const vs = base + fields[f + F_VALUE]!;
    const ve = base + fields[f + F_VALUE_END]!;
    const head = this.h!;
    switch (nameEnd - s) {
      case 4:
        if (equalsLower(buf, s, nameEnd, 'host')) {
          if (++this.hostCount > 1) return ERR.DUPLICATE_HOST;
          if (!isValidHost(buf, vs, ve)) return ERR.BAD_HOST;
          head.hostField = index;
        }
        break;
      case 6:
        if (equalsLower(buf, s, nameEnd, 'expect') && !equalsLower(buf, vs, ve, '100-continue')) this.badExpect = true;
        else if (equalsLower(buf, s, nameEnd, 'expect')) head.expectContinue = true;
        break;
      case 7:
        if (equalsLower(buf, s, nameEnd, 'upgrade') && head.upgradeField === -1) head.upgradeField = index;
        break;
      case 10:
        if (equalsLower(buf, s, nameEnd, 'connection')) this.connectionTokens(buf, vs, ve);
        break;
      case 14:
        if (equalsLower(buf, s, nameEnd, 'content-length')) {
          if (this.clField !== -1) return ERR.DUPLICATE_CL;
          const n = parseContentLength(buf, vs, ve);
          if (n < 0) return ERR.BAD_CL;
          this.clField = index;
          head.contentLength = n;
        }
        break;
      case 17:
        if (equalsLower(buf, s, nameEnd, 'transfer-encoding')) {
          if (this.teField !== -1) return ERR.DUPLICATE_TE;
          this.teField = index;
          this.teChunked = equalsLower(buf, vs, ve, 'chunked');
        }
        break;
    }
    return null;
  }

  private connectionTokens(buf: Buffer, s: number, e: number): void {
    let i = s;
    while (i <= e) {
      let j = i;
      while (j < e && buf[j] !== 0x2c) j++;
      let a = i;
      let b = j;
      while (a < b && (buf[a] === SP || buf[a] === HTAB)) a++;
      while (b > a && (buf[b - 1] === SP || buf[b - 1] === HTAB)) b--;
      if (a < b) {
        if (equalsLower(buf, a, b, 'close')) this.connClose = true;
        else if (equalsLower(buf, a, b, 'keep-alive')) this.connKeepAlive = true;
        else if (equalsLower(buf, a, b, 'upgrade')) this.connUpgrade = true;
        else this.h!.connectionNamesOthers = true;
      }
      i = j + 1;
    }
  }

  protected override finish(buf: Buffer, base: number, length: number): Http1Error | null {
    const head = this.h!;
    const http11 = head.versionMinor === 1;
    if (http11 && this.hostCount === 0) return ERR.MISSING_HOST;
    if (this.teField !== -1) {
      if (!http11) return ERR.TE_HTTP10;
      if (this.clField !== -1) return ERR.CL_TE;
      if (!this.teChunked) return ERR.UNSUPPORTED_TE;
      head.framing = 'chunked';
    } else if (this.clField !== -1) {
      if (head.contentLength > this.options.maxBodySize) return ERR.BODY_TOO_LARGE;
      head.framing = 'length';
    }
    if (http11 && this.badExpect) return ERR.BAD_EXPECT;
    if (!http11) head.expectContinue = false;
    head.buf = buf;
    head.base = base;
    head.length = length;
    // The parser's array is reused for the next head; the head gets an exact-size copy.
    head.fields = this.fields.slice(0, this.fieldLen);
    const fields = head.fields;
    head.fieldsStart = fields.length > 0 ? fields[F_LINE]! : length - 2;
    if ((head.form === 'origin' || head.form === 'asterisk') && head.hostField !== -1) {
      const f = head.hostField * FIELD_STRIDE;
      const vs = base + fields[f + F_VALUE]!;
      const ve = base + fields[f + F_VALUE_END]!;
      head.host = this.lastHost = sameLatin1(buf, vs, ve, this.lastHost) ? this.lastHost : latin1(buf, vs, ve);
    }
    head.keepAlive = http11 ? !this.connClose : this.connKeepAlive && !this.connClose;
    head.upgrade = http11 && this.connUpgrade && head.upgradeField !== -1;
    this.head = head;
    return null;
  }
}
