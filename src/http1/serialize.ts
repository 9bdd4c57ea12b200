// Writing heads for the other side of the proxy. Field lines that pass unchanged are copied as raw
// byte runs from the received head (names keep their case, values their bytes); only the first line,
// the removed hop-by-hop fields and the appended fields are written anew.
import { equalsLower } from './chars.js';
import { F_LINE, F_NAME_END, FIELD_STRIDE } from './head-parser.js';
import type { HeadFields, RequestHead } from './request-head.js';
import type { ResponseHead } from './response-head.js';

/** RFC 9110 §7.6.1 hop-by-hop fields (lower-case), removed in both directions. */
export const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade'] as const;

function isHopByHop(head: HeadFields, i: number): boolean {
  const f = i * FIELD_STRIDE;
  const buf = head.buf;
  const s = head.base + head.fields[f + F_LINE]!;
  const e = head.base + head.fields[f + F_NAME_END]!;
  switch (e - s) {
    case 2: return equalsLower(buf, s, e, 'te');
    case 7: return equalsLower(buf, s, e, 'trailer') || equalsLower(buf, s, e, 'upgrade');
    case 10: return equalsLower(buf, s, e, 'connection') || equalsLower(buf, s, e, 'keep-alive');
    case 16: return equalsLower(buf, s, e, 'proxy-connection');
    case 17: return equalsLower(buf, s, e, 'transfer-encoding');
    default: return false;
  }
}

/** Lower-cased names listed in the Connection fields (only computed when they name others). */
function connectionNamed(head: HeadFields): Set<string> {
  const names = new Set<string>();
  for (let i = 0, n = head.fieldCount; i < n; i++) {
    if (!head.nameIs(i, 'connection')) continue;
    for (const token of head.value(i).split(',')) {
      const t = token.replace(/^[ \t]+|[ \t]+$/g, '').toLowerCase();
      if (t !== '') names.add(t);
    }
  }
  return names;
}

/**
 * Which fields a serialisation drops: hop-by-hop ones, those the Connection field names, the Host
 * field when it is replaced, and `drop`.
 */
interface DropRule {
  named: Set<string> | null;
  hostField: number;
  drop: ReadonlySet<string> | undefined;
}

function dropped(head: HeadFields, i: number, rule: DropRule): boolean {
  return isHopByHop(head, i) ||
    i === rule.hostField ||
    (rule.named !== null && rule.named.has(head.name(i).toLowerCase())) ||
    (rule.drop !== undefined && isDropped(head, i, rule.drop));
}

/**
 * The kept field lines as [start, end) byte runs of head.buf (consecutive kept lines merged), in
 * the shared `runs` (`runCount` of them), which `assemble` reads at once (serialising allocates only its output);
 * returns their total length. `withFirstLine`: the first line as received starts the first run.
 */
let runs = new Int32Array(256);
let runCount = 0;

function pushRun(start: number, end: number): void {
  if (runCount + 2 > runs.length) {
    const grown = new Int32Array(runs.length * 2);
    grown.set(runs);
    runs = grown;
  }
  runs[runCount++] = start;
  runs[runCount++] = end;
}

function keptRuns(head: HeadFields & { fieldsStart: number }, rule: DropRule, withFirstLine: boolean): number {
  runCount = 0;
  let bytes = 0;
  let runStart = withFirstLine ? head.base : -1;
  let runEnd = withFirstLine ? head.base + head.fieldsStart : -1;
  for (let i = 0, n = head.fieldCount; i < n; i++) {
    const f = i * FIELD_STRIDE;
    const s = head.base + head.fields[f + F_LINE]!;
    const e = head.base + head.lineEnd(i);
    if (dropped(head, i, rule)) continue;
    if (runEnd === s) runEnd = e;
    else {
      if (runStart !== -1) {
        pushRun(runStart, runEnd);
        bytes += runEnd - runStart;
      }
      runStart = s;
      runEnd = e;
    }
  }
  if (runStart !== -1) {
    pushRun(runStart, runEnd);
    bytes += runEnd - runStart;
  }
  return bytes;
}

/**
 * Appended field lines, in order: pre-encoded bytes (a connection's or the engine's constant lines)
 * and Latin-1 strings (the values that change per message). Each part is copied into the head as
 * is: no joined string to build and flatten, no encoder call for a short one.
 */
export type HeadPart = Buffer | string;

/** Strings up to this long are copied a char at a time (cheaper than the encoder's call). */
const SHORT_STRING = 64;

function writePart(out: Buffer, o: number, part: HeadPart): number {
  if (typeof part !== 'string') {
    out.set(part, o);
    return o + part.length;
  }
  const n = part.length;
  if (n > SHORT_STRING) return o + out.write(part, o, n, 'latin1');
  for (let i = 0; i < n; i++) out[o + i] = part.charCodeAt(i);
  return o + n;
}

function extraLength(extra: string | readonly HeadPart[] | undefined): number {
  if (extra === undefined) return 0;
  if (typeof extra === 'string') return extra.length;
  // Latin-1: a string part takes one byte per UTF-16 unit, so every part's length is its byte count.
  let n = 0;
  for (let i = 0; i < extra.length; i++) n += extra[i]!.length;
  return n;
}

function writeExtra(out: Buffer, o: number, extra: string | readonly HeadPart[] | undefined): number {
  if (extra === undefined) return o;
  if (typeof extra === 'string') return writePart(out, o, extra);
  for (let i = 0; i < extra.length; i++) o = writePart(out, o, extra[i]!);
  return o;
}

/**
 * One buffer: `first` (unless empty), the kept runs, `tail`, `extra`, the blank line, then `body`
 * (a small first body part sent with its head: one write, no second copy of the head).
 */
function assemble(first: string, head: HeadFields, runBytes: number, tail: string, extra: string | readonly HeadPart[] | undefined, body: Buffer | undefined): Buffer {
  const out = Buffer.allocUnsafe(first.length + runBytes + tail.length + extraLength(extra) + 2 + (body === undefined ? 0 : body.length));
  let o = first.length === 0 ? 0 : writePart(out, 0, first);
  for (let r = 0; r < runCount; r += 2) o += head.buf.copy(out, o, runs[r]!, runs[r + 1]!);
  if (tail.length > 0) o = writePart(out, o, tail);
  o = writeExtra(out, o, extra);
  out[o++] = 0x0d;
  out[o++] = 0x0a;
  if (body !== undefined) body.copy(out, o);
  return out;
}

/** The names of a drop set by length, built once per set (callers pass the same constant set per request). */
const dropIndexes = new WeakMap<ReadonlySet<string>, Map<number, string[]>>();

function dropIndexOf(drop: ReadonlySet<string>): Map<number, string[]> {
  let index = dropIndexes.get(drop);
  if (index === undefined) {
    index = new Map();
    for (const name of drop) {
      const same = index.get(name.length);
      if (same === undefined) index.set(name.length, [name]);
      else same.push(name);
    }
    dropIndexes.set(drop, index);
  }
  return index;
}

/** Field i is named in `drop`: byte compares of the names of its length only, no per-field lower-cased string. */
function isDropped(head: HeadFields, i: number, drop: ReadonlySet<string>): boolean {
  const f = i * FIELD_STRIDE;
  const names = dropIndexOf(drop).get(head.fields[f + F_NAME_END]! - head.fields[f + F_LINE]!);
  if (names === undefined) return false;
  for (const name of names) if (head.nameIs(i, name)) return true;
  return false;
}

export interface SerializeOptions {
  /** Field lines to append, each `Name: value\r\n` (the caller builds and validates them), as one string or as parts. */
  extra?: string | readonly HeadPart[];
  /** Also drop fields with these lower-case names (e.g. `x-forwarded-for` before setting it). */
  drop?: ReadonlySet<string>;
}

export interface RequestSerializeOptions extends SerializeOptions {
  /** Replaces the request target (an origin-form path and query, already validated). */
  target?: string;
  /** Replaces the Host field (the received one is dropped). */
  host?: string;
}

export interface ResponseSerializeOptions extends SerializeOptions {
  /** Body bytes written right after the head in the same buffer (the response's first, small part). */
  body?: Buffer;
}

/** The request target in origin form: an absolute-form target's path and query (`/` when it has no path). */
export function originTarget(head: RequestHead): string {
  if (head.form !== 'absolute') return head.target;
  const target = head.target.slice(head.pathStart);
  return target === '' || target[0] === '?' ? `/${target}` : target;
}

/**
 * The request head to send upstream: `METHOD origin-target HTTP/1.1`, the end-to-end fields as
 * received, then `Host` (for absolute-form, from its authority), framing (`Transfer-Encoding:
 * chunked` when the body is chunked: it is forwarded as received), `Connection: upgrade` + `Upgrade`
 * for an upgrade, and `extra`.
 */
export function serializeRequestHead(head: RequestHead, options: RequestSerializeOptions = {}): Buffer {
  const named = head.connectionNamesOthers ? connectionNamed(head) : null;
  const drop = options.drop;
  const absolute = head.form === 'absolute';
  const replaceHost = absolute || options.host !== undefined;
  // `METHOD SP origin-target SP HTTP/1.1` as received (the parser allows no other spacing): copied, not rebuilt.
  const rawFirstLine = options.target === undefined && head.form === 'origin' && head.versionMinor === 1;
  const bytes = keptRuns(head, { named, hostField: replaceHost ? head.hostField : -1, drop }, rawFirstLine);
  let tail = options.host !== undefined ? `Host: ${options.host}\r\n` : absolute ? `Host: ${head.host}\r\n` : '';
  if (head.framing === 'chunked') tail += 'Transfer-Encoding: chunked\r\n';
  if (head.upgrade) tail += `Connection: upgrade\r\nUpgrade: ${head.value(head.upgradeField)}\r\n`;
  return assemble(rawFirstLine ? '' : `${head.method} ${options.target ?? originTarget(head)} HTTP/1.1\r\n`, head, bytes, tail, options.extra, undefined);
}

/**
 * The response head to send the client: `HTTP/1.1` + the received status code and reason, the
 * end-to-end fields as received (original case), `Transfer-Encoding: chunked` when the body is
 * chunked (forwarded as received), `Connection: upgrade` + `Upgrade` for a 101, then `extra`
 * (typically `Connection: close` or `Server: portico`).
 */
export function serializeResponseHead(head: ResponseHead, options: ResponseSerializeOptions = {}): Buffer {
  const named = head.connectionNamesOthers ? connectionNamed(head) : null;
  const drop = options.drop;
  // `HTTP/1.1 SP status SP reason` as received: copied, not rebuilt (an HTTP/1.0 one, or one without
  // the SP before an empty reason, is rewritten).
  const rawFirstLine = head.versionMinor === 1 && head.reasonStart === 13;
  const bytes = keptRuns(head, { named, hostField: -1, drop }, rawFirstLine);
  let tail = '';
  if (head.framing === 'chunked') tail += 'Transfer-Encoding: chunked\r\n';
  if (head.upgrade) {
    const up = head.indexOf('upgrade');
    tail += `Connection: upgrade\r\n${up === -1 ? '' : `Upgrade: ${head.value(up)}\r\n`}`;
  }
  if (rawFirstLine) return assemble('', head, bytes, tail, options.extra, options.body);
  const reason = head.buf.toString('latin1', head.base + head.reasonStart, head.base + head.reasonEnd);
  return assemble(`HTTP/1.1 ${head.status} ${reason}\r\n`, head, bytes, tail, options.extra, options.body);
}

const REASONS: Readonly<Record<number, string>> = {
  400: 'Bad Request', 404: 'Not Found', 408: 'Request Timeout', 413: 'Content Too Large', 414: 'URI Too Long',
  417: 'Expectation Failed', 431: 'Request Header Fields Too Large', 501: 'Not Implemented', 502: 'Bad Gateway',
  503: 'Service Unavailable', 504: 'Gateway Timeout', 505: 'HTTP Version Not Supported',
};

/** A complete reply that closes the connection: status line, Content-Type, Content-Length, Connection: close. */
export function errorResponse(status: number, body: string | Buffer = '', contentType = 'application/json'): Buffer {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  const head = `HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}\r\nServer: portico\r\n` +
    (bytes.length > 0 ? `Content-Type: ${contentType}\r\n` : '') +
    `Content-Length: ${bytes.length}\r\nConnection: close\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), bytes]);
}
