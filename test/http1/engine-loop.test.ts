// The layer as the engine will drive it per socket: head parser, then the body tracker its framing
// names, then the next pipelined head, over a byte stream cut into random chunks. Request boundaries,
// bodies and errors must not depend on where the chunks were cut.
import { describe, expect, it } from 'vitest';
import { ChunkedTracker, ERROR, LengthTracker, NEED_MORE, RequestHeadParser } from '../../src/http1/index.js';

interface Seen {
  path: string;
  body: string;
}

/** Feeds `chunks` as a socket would deliver them; returns the requests with their raw bodies, and the error if any. */
function drive(chunks: Buffer[]): { requests: Seen[]; error?: string } {
  const parser = new RequestHeadParser();
  const chunked = new ChunkedTracker();
  const length = new LengthTracker(0);
  const requests: Seen[] = [];
  let state: 'head' | 'length' | 'chunked' = 'head';
  let current: Seen | undefined;
  for (const chunk of chunks) {
    let at = 0;
    while (at < chunk.length) {
      if (state === 'head') {
        const r = parser.feed(chunk, at);
        if (r === ERROR) return { requests, error: parser.error!.code };
        if (r === NEED_MORE) break;
        const head = parser.head!;
        current = { path: head.path, body: '' };
        requests.push(current);
        at = r;
        if (head.framing === 'length') {
          length.reset(head.contentLength);
          state = 'length';
        } else if (head.framing === 'chunked') {
          chunked.reset();
          state = 'chunked';
        }
        parser.reset();
        if (state === 'length' && head.contentLength === 0) state = 'head';
        continue;
      }
      const tracker = state === 'length' ? length : chunked;
      const r = tracker.feed(chunk, at);
      if (r === ERROR) return { requests, error: chunked.error!.code };
      const end = r === NEED_MORE ? chunk.length : r;
      current!.body += chunk.toString('latin1', at, end); // the proxy would forward these bytes as they are
      at = end;
      if (r !== NEED_MORE) state = 'head';
    }
  }
  return { requests };
}

function cut(bytes: Buffer, seed: number): Buffer[] {
  let x = seed;
  const rand = (): number => {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    return x;
  };
  const out: Buffer[] = [];
  for (let i = 0; i < bytes.length; ) {
    const n = 1 + (rand() % 40);
    out.push(bytes.subarray(i, i + n));
    i += n;
  }
  return out;
}

const STREAM =
  'GET /a HTTP/1.1\r\nHost: h\r\n\r\n' +
  'POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world' +
  'POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n6\r\n world\r\n0\r\nT: 1\r\n\r\n' +
  'POST /d HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n' +
  '\r\nGET /e HTTP/1.1\r\nHost: h\r\n\r\n';

describe('engine loop over random chunkings', () => {
  it('finds the same requests and bodies however the stream is cut', () => {
    const expected = drive([Buffer.from(STREAM)]);
    expect(expected).toEqual({
      requests: [
        { path: '/a', body: '' },
        { path: '/b', body: 'hello world' },
        { path: '/c', body: '5;x=y\r\nhello\r\n6\r\n world\r\n0\r\nT: 1\r\n\r\n' },
        { path: '/d', body: '' },
        { path: '/e', body: '' },
      ],
    });
    for (let seed = 1; seed <= 300; seed++) expect(drive(cut(Buffer.from(STREAM), seed)), `seed ${seed}`).toEqual(expected);
  });

  it('answers the valid requests before a smuggling attempt, then stops', () => {
    const stream = Buffer.from(`${STREAM}POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /never HTTP/1.1\r\nHost: h\r\n\r\n`);
    for (let seed = 1; seed <= 100; seed++) {
      const { requests, error } = drive(cut(stream, seed));
      expect(requests.map((r) => r.path)).toEqual(['/a', '/b', '/c', '/d', '/e']);
      expect(error).toBe('CL_TE');
    }
  });

  it('a bad chunk stops the body where it goes wrong', () => {
    const stream = Buffer.from('POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n');
    for (let seed = 1; seed <= 50; seed++) expect(drive(cut(stream, seed)).error).toBe('BAD_CHUNK_SIZE');
  });
});
