// Drives the http1 parsers over one input whole, with an offset, split at every byte boundary and
// byte by byte, and checks that every way of feeding gives the same outcome.
import { expect } from 'vitest';
import { ChunkedTracker, ERROR, NEED_MORE, RequestHeadParser, ResponseHeadParser, type RequestParserOptions, type ResponseContext } from '../../src/http1/index.js';
import type { HeadLimits } from '../../src/http1/index.js';

export type Outcome = { error: string; status: number } | { need: true } | ({ at: number } & Record<string, unknown>);

interface Feedable {
  feed(chunk: Buffer, start?: number, end?: number): number;
}

/** Feeds `pieces` in order; returns the absolute offset of the end, NEED_MORE or ERROR. */
function feedPieces(parser: Feedable, pieces: Buffer[]): number {
  let offset = 0;
  for (const piece of pieces) {
    const r = parser.feed(piece);
    if (r === ERROR) return ERROR;
    if (r >= 0) return offset + r;
    offset += piece.length;
  }
  return NEED_MORE;
}

function splits(raw: Buffer): Buffer[][] {
  const out: Buffer[][] = [[raw]];
  // Every boundary for inputs up to 2 KiB; for longer ones (the limit cases, parsing each split is
  // O(n)), the first and last 64, every 97th, and 3 around every CR/LF.
  const n = raw.length;
  const at = (k: number): boolean => n <= 2048 || k <= 64 || k >= n - 64 || k % 97 === 0 || [raw[k - 2], raw[k - 1], raw[k], raw[k + 1]].some((b) => b === 0x0d || b === 0x0a);
  for (let k = 1; k < n; k++) if (at(k)) out.push([raw.subarray(0, k), raw.subarray(k)]);
  if (raw.length <= 600) out.push([...raw].map((b) => Buffer.from([b])));
  // three pieces around the middle, to cross two boundaries inside one line
  if (raw.length > 4) {
    const a = raw.length >> 2;
    const b = (3 * raw.length) >> 2;
    out.push([raw.subarray(0, a), raw.subarray(a, b), raw.subarray(b)]);
  }
  return out;
}

export function requestOutcome(parser: RequestHeadParser, r: number): Outcome {
  if (r === ERROR) return { error: parser.error!.code, status: parser.error!.status };
  if (r === NEED_MORE) return { need: true };
  const h = parser.head!;
  return {
    at: r, method: h.method, target: h.target, form: h.form, path: h.path, query: h.query, version: h.versionMinor,
    host: h.host, framing: h.framing, contentLength: h.contentLength, keepAlive: h.keepAlive, upgrade: h.upgrade,
    expectContinue: h.expectContinue, headers: h.entries(),
  };
}

/** The outcome of parsing `raw` as a request head, the same for every way of feeding it (asserted). */
export function parseRequest(raw: Buffer | string, options: Partial<RequestParserOptions> = {}): Outcome {
  const bytes = typeof raw === 'string' ? Buffer.from(raw, 'latin1') : raw;
  let first: Outcome | undefined;
  const parser = new RequestHeadParser(options);
  for (const pieces of splits(bytes)) {
    parser.reset();
    const outcome = requestOutcome(parser, feedPieces(parser, pieces));
    if (first === undefined) first = outcome;
    else expect(outcome, `split ${pieces.map((p) => p.length).join('+')}`).toEqual(first);
  }
  // with a start offset into a larger chunk
  parser.reset();
  const padded = Buffer.concat([Buffer.from('XXXX'), bytes, Buffer.from('YY')]);
  const r = parser.feed(padded, 4, 4 + bytes.length);
  const shifted = requestOutcome(parser, r >= 0 ? r - 4 : r);
  expect(shifted, 'fed with an offset').toEqual(first);
  return first!;
}

export function responseOutcome(parser: ResponseHeadParser, r: number): Outcome {
  if (r === ERROR) return { error: parser.error!.code, status: parser.error!.status };
  if (r === NEED_MORE) return { need: true };
  const h = parser.head!;
  return {
    at: r, status: h.status, reason: h.reason, version: h.versionMinor, framing: h.framing, contentLength: h.contentLength,
    keepAlive: h.keepAlive, interim: h.interim, upgrade: h.upgrade, headers: h.entries(),
  };
}

export function parseResponse(raw: Buffer | string, context: Partial<ResponseContext> = {}, limits: Partial<HeadLimits> = {}): Outcome {
  const bytes = typeof raw === 'string' ? Buffer.from(raw, 'latin1') : raw;
  let first: Outcome | undefined;
  const parser = new ResponseHeadParser(limits);
  for (const pieces of splits(bytes)) {
    parser.expect({ head: false, upgrade: false, ...context });
    const outcome = responseOutcome(parser, feedPieces(parser, pieces));
    if (first === undefined) first = outcome;
    else expect(outcome, `split ${pieces.map((p) => p.length).join('+')}`).toEqual(first);
  }
  return first!;
}

export type ChunkedOutcome = { error: string } | { need: true } | { at: number; dataBytes: number };

export function parseChunked(raw: Buffer | string, make: () => ChunkedTracker = () => new ChunkedTracker()): ChunkedOutcome {
  const bytes = typeof raw === 'string' ? Buffer.from(raw, 'latin1') : raw;
  let first: ChunkedOutcome | undefined;
  for (const pieces of splits(bytes)) {
    const t = make();
    const r = feedPieces(t, pieces);
    const outcome: ChunkedOutcome = r === ERROR ? { error: t.error!.code } : r === NEED_MORE ? { need: true } : { at: r, dataBytes: t.dataBytes };
    if (first === undefined) first = outcome;
    else expect(outcome, `split ${pieces.map((p) => p.length).join('+')}`).toEqual(first);
  }
  return first!;
}
