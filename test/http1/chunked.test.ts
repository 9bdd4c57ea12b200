// The chunked and Content-Length body trackers: where a body ends, never what it holds.
import { describe, expect, it } from 'vitest';
import { ChunkedTracker, ERROR, LengthTracker, NEED_MORE } from '../../src/http1/index.js';
import { parseChunked } from './feed.js';

const END = '0\r\n\r\n';

describe('ChunkedTracker rejects', () => {
  it.each([
    ['0x prefix', '0x5\r\nhello\r\n' + END, 'BAD_CHUNK_SIZE'],
    ['leading space', ' 5\r\nhello\r\n' + END, 'BAD_CHUNK_SIZE'],
    ['negative', '-5\r\nhello\r\n' + END, 'BAD_CHUNK_SIZE'],
    ['plus', '+5\r\nhello\r\n' + END, 'BAD_CHUNK_SIZE'],
    ['not hex', 'g\r\nhello\r\n' + END, 'BAD_CHUNK_SIZE'],
    ['empty size line', '\r\nhello\r\n' + END, 'BAD_CHUNK_SIZE'],
    ['17 digits', '00000000000000005\r\nhello\r\n' + END, 'BAD_CHUNK_SIZE'],
    ['above 2^53 - 1', '20000000000000\r\n', 'BAD_CHUNK_SIZE'],
    ['trailing space (nginx: 200)', '5 \r\nhello\r\n' + END, 'BAD_CHUNK_EXT'],
    ['junk after size', '5x\r\nhello\r\n' + END, 'BAD_CHUNK_SIZE'],
    ['ext without name', '5;\r\nhello\r\n' + END, 'BAD_CHUNK_EXT'],
    ['ext with CTL (nginx: 200)', '5;\x01\r\nhello\r\n' + END, 'BAD_CHUNK_EXT'],
    ['ext value missing', '5;a=\r\nhello\r\n' + END, 'BAD_CHUNK_EXT'],
    ['ext unterminated quote', '5;a="b\r\nhello\r\n' + END, 'BAD_CHUNK_EXT'],
    ['ext junk after name', '5;a b\r\nhello\r\n' + END, 'BAD_CHUNK_EXT'],
    ['ext trailing space', '5;a \r\nhello\r\n' + END, 'BAD_CHUNK_EXT'],
    ['ext too long', `5;a=${'b'.repeat(1100)}\r\nhello\r\n` + END, 'BAD_CHUNK_EXT'],
    ['bare LF after size (nginx: 200)', '5\nhello\r\n' + END, 'BARE_CR'.replace('CR', 'LF')],
    ['bare CR after size', '5\rhello\r\n' + END, 'BARE_CR'],
    ['data longer than the size', '5\r\nhelloXX\r\n' + END, 'BAD_CHUNK_DATA'],
    ['data shorter than the size', '5\r\nhell\r\n' + END, 'BAD_CHUNK_DATA'],
    ['LF only after data', '5\r\nhello\n' + END, 'BAD_CHUNK_DATA'],
    ['junk then LF after data', '5\r\nhelloX\n' + END, 'BAD_CHUNK_DATA'],
    ['bare LF after the last chunk', '5\r\nhello\r\n0\r\n\n', 'BARE_LF'],
    ['trailer without colon', '0\r\nX y\r\n\r\n', 'BAD_TRAILER'],
    ['trailer obs-fold', '0\r\nX: a\r\n b\r\n\r\n', 'BAD_TRAILER'],
    ['trailer NUL', '0\r\nX: a\x00\r\n\r\n', 'BAD_TRAILER'],
    ['trailer Content-Length', '0\r\nContent-Length: 5\r\n\r\n', 'BAD_TRAILER'],
    ['trailer Transfer-Encoding', '0\r\ntransfer-encoding: chunked\r\n\r\n', 'BAD_TRAILER'],
    ['trailer Host', '0\r\nHost: b\r\n\r\n', 'BAD_TRAILER'],
    ['trailer bare LF', '0\r\nX: a\n\r\n', 'BARE_LF'],
    ['trailer section too large', `0\r\n${`X: ${'v'.repeat(100)}\r\n`.repeat(90)}\r\n`, 'TRAILERS_TOO_LARGE'],
    ['too many trailer fields', `0\r\n${'X: v\r\n'.repeat(33)}\r\n`, 'TRAILERS_TOO_LARGE'],
  ])('%s', (_name, raw, code) => {
    expect(parseChunked(raw)).toEqual({ error: code });
  });

  it('bounds the decoded body (413)', () => {
    const tracker = new ChunkedTracker({ maxBodySize: 8 });
    expect(tracker.feed(Buffer.from('5\r\nhello\r\n5\r\n'))).toBe(ERROR);
    expect(tracker.error).toMatchObject({ code: 'BODY_TOO_LARGE', status: 413 });
  });
});

describe('ChunkedTracker accepts', () => {
  it.each([
    ['one chunk', '5\r\nhello\r\n' + END, 5],
    ['empty body', END, 0],
    ['several chunks, upper and lower hex', 'A\r\n0123456789\r\nb\r\n0123456789a\r\n' + END, 21],
    ['leading zeros', '0005\r\nhello\r\n' + END, 5],
    ['16 digits', '0000000000000005\r\nhello\r\n' + END, 5],
    ['ext token', '5;a=b\r\nhello\r\n' + END, 5],
    ['ext name only, several', '5;a;b=c;d\r\nhello\r\n' + END, 5],
    ['ext quoted with escapes', '5;a="b c\\"d\\\\"\r\nhello\r\n' + END, 5],
    ['ext with BWS', '5 ; a = b\r\nhello\r\n' + END, 5],
    ['ext on the last chunk', '5\r\nhello\r\n0;x=y\r\n\r\n', 5],
    ['trailers', '5\r\nhello\r\n0\r\nX-Checksum: abc\r\nServer-Timing: a;dur=1\r\n\r\n', 5],
    ['CRLF inside data is data', '4\r\n\r\n\r\n\r\n' + END, 4],
  ])('%s', (_name, raw, dataBytes) => {
    expect(parseChunked(raw)).toEqual({ at: raw.length, dataBytes });
  });

  it('says where the body ends so pipelined bytes are the next request', () => {
    const body = '5\r\nhello\r\n0\r\n\r\n';
    const next = 'GET / HTTP/1.1\r\n';
    expect(parseChunked(body + next)).toEqual({ at: body.length, dataBytes: 5 });
  });

  it('waits for more', () => {
    expect(parseChunked('5\r\nhel')).toEqual({ need: true });
    expect(parseChunked('5\r\nhello\r\n0\r\n')).toEqual({ need: true });
    expect(parseChunked('5\r\nhello\r\n0\r\nX: y\r\n')).toEqual({ need: true });
  });

  it('counts wire bytes and can be reused after reset', () => {
    const tracker = new ChunkedTracker();
    const raw = Buffer.from('3\r\nabc\r\n0\r\n\r\n');
    expect(tracker.feed(raw, 0, 5)).toBe(NEED_MORE);
    expect(tracker.feed(raw, 5)).toBe(raw.length);
    expect(tracker.wireBytes).toBe(raw.length);
    expect(tracker.done).toBe(true);
    expect(() => tracker.feed(raw)).toThrow(/reset/);
    tracker.reset();
    expect(tracker.feed(raw)).toBe(raw.length);
  });
});

describe('LengthTracker', () => {
  it('ends inside a chunk at the right offset', () => {
    const t = new LengthTracker(10);
    expect(t.feed(Buffer.alloc(4))).toBe(NEED_MORE);
    expect(t.remaining).toBe(6);
    const chunk = Buffer.alloc(20);
    expect(t.feed(chunk, 2)).toBe(8);
    expect(t.done).toBe(true);
  });
  it('a zero length ends at once', () => {
    expect(new LengthTracker(0).feed(Buffer.from('GET'), 1)).toBe(1);
  });
  it('an exact fit ends at the chunk end', () => {
    const t = new LengthTracker(3);
    expect(t.feed(Buffer.from('abc'))).toBe(3);
  });
});
