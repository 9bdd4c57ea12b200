// The engine's upstream pool: plain connections read into one buffer shared by all of them, so a
// holder that keeps bytes past its upstreamData call must take them through retainUpstreamBytes.
// Holders here keep every chunk (as a write pending to a slow client would) and check them only
// once every connection has finished reading: a chunk left in a reused buffer would have been
// overwritten by then.
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { holdUpstream, retainUpstreamBytes, returnUpstreamBytes, UpstreamPool, UPSTREAM_READ_BYTES, type UpstreamHolder } from '../../src/upstream/upstream-pool.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Byte i of connection `seed`'s stream: consecutive bytes differ, and every connection's differ from the others'. */
const patternByte = (seed: number, i: number): number => (seed * 37 + i * 5 + (i >> 9)) & 0xff;

/** Answers each `<size>\n` line with `size` pattern bytes in pieces of `piece`, paced so they arrive as many reads. */
async function patternServer(piece: number): Promise<number> {
  let seed = 0;
  const open = new Set<Socket>();
  const server = createServer((socket) => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
    const mine = ++seed;
    let sent = 0;
    socket.on('data', (line: Buffer) => {
      const size = Number(line.toString('latin1').trim());
      const end = sent + size;
      const pump = (): void => {
        if (socket.destroyed) return;
        for (let n = 0; n < 4 && sent < end; n++) {
          const part = Buffer.allocUnsafe(Math.min(piece, end - sent));
          for (let i = 0; i < part.length; i++) part[i] = patternByte(mine, sent + i);
          sent += part.length;
          socket.write(part);
        }
        if (sent < end) setImmediate(pump);
      };
      pump();
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => {
    for (const socket of open) socket.destroy();
    server.close(() => resolve());
  }));
  return (server.address() as AddressInfo).port;
}

/**
 * Keeps every chunk it is given (retained, or as given when `retain` is off) until `size` bytes came;
 * with `step`, asks for `step` bytes at a time, the next once the last arrived.
 */
class KeepingHolder implements UpstreamHolder {
  readonly kept: Buffer[] = [];
  received = 0;
  readonly done: Promise<void>;
  #resolve!: () => void;
  constructor(readonly socket: Socket, readonly size: number, readonly retain: boolean, readonly step?: number) {
    this.done = new Promise((resolve) => (this.#resolve = resolve));
  }
  upstreamData(chunk: Buffer): void {
    this.kept.push(this.retain ? retainUpstreamBytes(this.socket, chunk) : chunk);
    this.received += chunk.length;
    if (this.received >= this.size) this.#resolve();
    else if (this.step !== undefined && this.received % this.step === 0) this.socket.write(`${this.step}\n`);
  }
  upstreamClose(): void {}
  upstreamTimeout(): void {}
}

/** Offsets where `bytes` (starting at stream offset `from`) differ from connection `seed`'s pattern; at most a few. */
function mismatches(bytes: Buffer, seed: number, from: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < bytes.length && out.length < 3; i++) if (bytes[i] !== patternByte(seed, from + i)) out.push(from + i);
  return out;
}

async function exchange(pool: UpstreamPool, port: number, size: number, retain: boolean, step?: number): Promise<{ socket: Socket; holder: KeepingHolder }> {
  const endpoint = { address: '127.0.0.1', port, key: `127.0.0.1:${port}` } as Parameters<UpstreamPool['acquire']>[0];
  const lease = await pool.acquire(endpoint);
  const holder = new KeepingHolder(lease.socket, size, retain, step);
  holdUpstream(lease.socket, holder);
  lease.socket.write(`${step ?? size}\n`);
  return { socket: lease.socket, holder };
}

describe('upstream pool: the shared read buffer', () => {
  it('bytes kept through retainUpstreamBytes stay intact while every connection goes on reading; kept as given, they do not', async () => {
    const port = await patternServer(9_000);
    const pool = new UpstreamPool();
    cleanups.push(() => pool.close());
    // Three connections at once, 2 MB each: many reads, shared buffer and own buffers both.
    const runs = await Promise.all([1, 2, 3].map(() => exchange(pool, port, 2_000_000, true)));
    await Promise.all(runs.map((r) => r.holder.done));
    const seeds = new Map<Socket, number>();
    for (const { socket, holder } of runs) {
      const whole = Buffer.concat(holder.kept);
      // Which server connection this is: its first byte is patternByte(seed, 0).
      const seed = [1, 2, 3].find((s) => patternByte(s, 0) === whole[0])!;
      seeds.set(socket, seed);
      expect(whole.length).toBe(2_000_000);
      expect(mismatches(whole, seed, 0)).toEqual([]);
    }
    // Given back, then taken again for small reads into a connection's own buffer (copied, the
    // buffer reused): 1,000 bytes asked at a time, the next only once the last arrived, so each is one read.
    const endpoint = { address: '127.0.0.1', port, key: `127.0.0.1:${port}` } as Parameters<UpstreamPool['acquire']>[0];
    for (const { socket } of runs) pool.release(endpoint, socket);
    const pingPong = await Promise.all([1, 2].map(async () => {
      const run = await exchange(pool, port, 100_000, true, 1_000);
      await run.holder.done;
      return run;
    }));
    for (const { socket, holder } of pingPong) {
      const whole = Buffer.concat(holder.kept);
      expect(holder.kept.length).toBe(100);
      expect(mismatches(whole, seeds.get(socket)!, 2_000_000)).toEqual([]);
    }
    // The control: the same, keeping the chunks as given (the shared buffer's views) — they are overwritten.
    const raw = await Promise.all([1, 2].map(() => exchange(new UpstreamPool(), port, 300_000, false)));
    await Promise.all(raw.map((r) => r.holder.done));
    const broken = raw.some(({ holder }) => {
      const whole = Buffer.concat(holder.kept);
      // New connections: the server's 4th and 5th.
      return [4, 5].every((seed) => mismatches(whole, seed, 0).length > 0);
    });
    expect(broken).toBe(true);
    for (const r of raw) r.socket.destroy();
  });

  it('lent read buffers come back through returnUpstreamBytes and are read into again: a few serve a long body, each intact until returned', async () => {
    const port = await patternServer(UPSTREAM_READ_BYTES);
    const pool = new UpstreamPool();
    cleanups.push(() => pool.close());
    const endpoint = { address: '127.0.0.1', port, key: `127.0.0.1:${port}` } as Parameters<UpstreamPool['acquire']>[0];
    const lease = await pool.acquire(endpoint);
    const socket = lease.socket;
    // Like a client write that completes two reads later: each chunk is checked, then returned, once two more came.
    const pending: Array<{ bytes: Buffer; at: number }> = [];
    const memories = new Set<ArrayBufferLike>();
    const bad: number[] = [];
    let received = 0;
    let complete!: () => void;
    const done = new Promise<void>((resolve) => (complete = resolve));
    const settle = (entry: { bytes: Buffer; at: number }): void => {
      bad.push(...mismatches(entry.bytes, 1, entry.at));
      returnUpstreamBytes(entry.bytes);
    };
    holdUpstream(socket, {
      upstreamData(chunk: Buffer): void {
        const bytes = retainUpstreamBytes(socket, chunk);
        if (bytes === chunk) memories.add(bytes.buffer);
        pending.push({ bytes, at: received });
        received += chunk.length;
        if (pending.length > 2) settle(pending.shift()!);
        if (received >= 4_000_000) complete();
      },
      upstreamClose: () => undefined,
      upstreamTimeout: () => undefined,
    });
    socket.write('4000000\n');
    await done;
    for (const entry of pending.splice(0)) settle(entry);
    expect(bad).toEqual([]);
    // ~60 reads of up to 64 KiB: lent buffers are reused, not one allocated per read.
    expect(received).toBe(4_000_000);
    expect(memories.size).toBeGreaterThan(1);
    expect(memories.size).toBeLessThanOrEqual(8);
    socket.destroy();
  });

  it('a connection given back reads into the shared buffer again; its next exchange keeps its bytes intact too', async () => {
    const port = await patternServer(UPSTREAM_READ_BYTES);
    const pool = new UpstreamPool();
    cleanups.push(() => pool.close());
    const endpoint = { address: '127.0.0.1', port, key: `127.0.0.1:${port}` } as Parameters<UpstreamPool['acquire']>[0];
    const first = await exchange(pool, port, 500_000, true);
    await first.holder.done;
    pool.release(endpoint, first.socket);
    const again = await pool.acquire(endpoint);
    expect(again.reused).toBe(true);
    expect(again.socket).toBe(first.socket);
    const holder = new KeepingHolder(again.socket, 500_000, true);
    holdUpstream(again.socket, holder);
    // Another connection reads meanwhile, into the shared buffer.
    const other = await exchange(pool, port, 500_000, true);
    again.socket.write('500000\n');
    await Promise.all([holder.done, other.holder.done]);
    const seed = [1, 2].find((s) => patternByte(s, 0) === Buffer.concat(first.holder.kept)[0])!;
    expect(mismatches(Buffer.concat(first.holder.kept), seed, 0)).toEqual([]);
    expect(mismatches(Buffer.concat(holder.kept), seed, 500_000)).toEqual([]);
  });
});
