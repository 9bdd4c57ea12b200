import { createSocket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeMessage, Membership, UNAUTHENTICATED_KEY, type HeartbeatEvent, type Peer } from '../../src/lb-announce/heartbeat.js';
import { createSilentLogger } from '../../src/lib/logger.js';
import { captureLogger } from '../helpers/capture-logger.js';

// Three memberships on 127.0.0.1-3 (port 0 each), a shared fake clock and timers that never fire:
// the test calls tick() and waits for the datagrams to be accepted or rejected.

const SECRET = Buffer.from('test-secret-0123456789');
const NEVER = { setInterval: () => 0, clearInterval: () => {} };

interface Member {
  name: string;
  address: string;
  m: Membership;
  events: HeartbeatEvent[];
  changes: Array<string[]>;
  waitFor(predicate: (e: HeartbeatEvent) => boolean): Promise<HeartbeatEvent>;
}

let now = 1_700_000_000_000;
const clock = () => now;
let started: Member[] = [];

afterEach(async () => {
  for (const member of started) await member.m.stop();
  started = [];
});

async function members(count: number, options: { secrets?: Buffer[]; logger?: ReturnType<typeof captureLogger>['logger'] } = {}): Promise<Member[]> {
  const out: Member[] = [];
  for (let i = 0; i < count; i++) {
    const events: HeartbeatEvent[] = [];
    const waiters = new Set<{ predicate: (e: HeartbeatEvent) => boolean; resolve: (e: HeartbeatEvent) => void }>();
    const m = new Membership({
      nodeName: `node-${i + 1}`,
      bind: [`127.0.0.${i + 1}`],
      port: 0,
      secret: options.secrets?.[i] ?? SECRET,
      clock,
      timers: NEVER,
      logger: options.logger ?? createSilentLogger(),
      onEvent: (event) => {
        events.push(event);
        for (const w of waiters) if (w.predicate(event)) (waiters.delete(w), w.resolve(event));
      },
    });
    const changes: Array<string[]> = [];
    m.subscribe((live) => changes.push([...live].sort()));
    out.push({
      name: `node-${i + 1}`,
      address: `127.0.0.${i + 1}`,
      m,
      events,
      changes,
      waitFor: (predicate) => {
        const found = events.find(predicate);
        if (found) return Promise.resolve(found);
        return new Promise((resolve, reject) => {
          const w = { predicate, resolve };
          waiters.add(w);
          setTimeout(() => waiters.delete(w) && reject(new Error(`no such event; got ${JSON.stringify(events)}`)), 3000).unref();
        });
      },
    });
  }
  for (const member of out) await member.m.start();
  started.push(...out);
  const peers: Peer[] = out.map((member) => ({ name: member.name, address: member.address, port: member.m.boundAddresses()[0]!.port }));
  for (const member of out) member.m.setPeers(peers);
  return out;
}

const accepted = (from: string, kind: 'heartbeat' | 'leaving' = 'heartbeat') => (e: HeartbeatEvent) => e.type === 'accepted' && e.from === from && e.kind === kind;
const rejected = (reason: string) => (e: HeartbeatEvent) => e.type === 'rejected' && e.reason === reason;
const count = (member: Member, predicate: (e: HeartbeatEvent) => boolean) => member.events.filter(predicate).length;

/** Every member ticks once; resolves when each has accepted one more heartbeat from each other. */
async function round(list: Member[]): Promise<void> {
  const before = list.map((r) => list.map((s) => count(r, accepted(s.name))));
  for (const member of list) member.m.tick();
  await Promise.all(
    list.flatMap((r, ri) =>
      list.filter((s) => s !== r).map((s) => {
        const si = list.indexOf(s);
        return r.waitFor(() => count(r, accepted(s.name)) > before[ri]![si]!);
      }),
    ),
  );
}

/** Two rounds: the first makes everyone ready (heard every peer), the second carries that news. */
async function settle(list: Member[]): Promise<void> {
  await round(list);
  for (const member of list) expect(member.m.ready()).toBe(true);
  await round(list);
}

describe('Membership', () => {
  it('authenticated heartbeats make every peer live', async () => {
    const [a, b, c] = await members(3);
    expect([...a!.m.live()]).toEqual([]); // not settled: not even itself
    await settle([a!, b!, c!]);
    for (const member of [a!, b!, c!]) expect([...member.m.live()].sort()).toEqual(['node-1', 'node-2', 'node-3']);
    expect(a!.events.filter((e) => e.type === 'rejected')).toEqual([]);
  });

  it('settles once it heard every peer, or after deadAfterMs; peers count it only once it says it is ready', async () => {
    const [a, b] = await members(2);
    a!.m.tick();
    await b!.waitFor(accepted('node-1'));
    // b heard its only peer: ready. a has not heard b: not ready, and its heartbeat said so.
    expect(b!.m.ready()).toBe(true);
    expect(a!.m.ready()).toBe(false);
    expect([...b!.m.live()]).toEqual(['node-2']);
    // b's ready flip sent a heartbeat at once: a hears it, settles, and its next heartbeat counts.
    await a!.waitFor(accepted('node-2'));
    expect(a!.m.ready()).toBe(true);
    expect([...a!.m.live()].sort()).toEqual(['node-1', 'node-2']);
    await b!.waitFor(() => count(b!, accepted('node-1')) === 2);
    expect([...b!.m.live()].sort()).toEqual(['node-1', 'node-2']);
    // Alone (no peer ever answers): ready after deadAfterMs.
    const lonely = new Membership({ nodeName: 'solo', bind: ['127.0.0.9'], port: 0, secret: SECRET, clock, timers: NEVER, deadAfterMs: 3000, logger: createSilentLogger(), peers: [{ name: 'ghost', address: '127.0.0.10' }] });
    await lonely.start();
    expect(lonely.ready()).toBe(false);
    now += 3000;
    lonely.tick();
    expect(lonely.ready()).toBe(true);
    expect([...lonely.live()]).toEqual(['solo']);
    await lonely.stop();
  });

  it('a peer is dead once deadAfterMs passes without a heartbeat, and live again when one comes', async () => {
    const [a, b, c] = await members(3);
    await settle([a!, b!, c!]);
    // c goes quiet (not stopped: its process hangs, say); a and b keep talking.
    now += 2000;
    await round([a!, b!]);
    expect(a!.m.live().has('node-3')).toBe(true);
    now += 1500; // 3500 ms since c's last heartbeat
    a!.m.tick();
    expect([...a!.m.live()].sort()).toEqual(['node-1', 'node-2']);
    expect(a!.changes.at(-1)).toEqual(['node-1', 'node-2']);
    const heard = count(a!, accepted('node-3'));
    c!.m.tick();
    await a!.waitFor(() => count(a!, accepted('node-3')) > heard);
    expect(a!.m.live().has('node-3')).toBe(true);
  });

  it('a leaving message makes the peer dead at once', async () => {
    const [a, b] = await members(2);
    await settle([a!, b!]);
    expect(a!.changes.at(-1)).toEqual(['node-1', 'node-2']);
    await b!.m.stop();
    await a!.waitFor(accepted('node-2', 'leaving'));
    expect([...a!.m.live()]).toEqual(['node-1']);
    expect(a!.changes.at(-1)).toEqual(['node-1']);
  });

  it('rejects a bad MAC: a peer with another secret never becomes live', async () => {
    const [a, b] = await members(2, { secrets: [SECRET, Buffer.from('another-secret')] });
    b!.m.tick();
    await a!.waitFor(rejected('bad-mac'));
    a!.m.tick();
    await b!.waitFor(rejected('bad-mac'));
    now += 3000; // settled by the timeout: alone
    a!.m.tick();
    b!.m.tick();
    expect([...a!.m.live()]).toEqual(['node-1']);
    expect([...b!.m.live()]).toEqual(['node-2']);
  });

  it('rejects replays, unknown nodes, wrong sources and stale timestamps', async () => {
    const capture = captureLogger('warn');
    const [a] = await members(1, { logger: capture.logger });
    a!.m.setPeers([{ name: 'node-2', address: '127.0.0.2' }, { name: 'node-3', address: '127.0.0.3' }]);
    const port = a!.m.boundAddresses()[0]!.port;
    const send = (from: string, data: Buffer) =>
      new Promise<void>((resolve, reject) => {
        const socket = createSocket('udp4');
        socket.bind(0, from, () => socket.send(data, port, '127.0.0.1', (error) => (socket.close(), error ? reject(error) : resolve())));
      });
    const msg = (n: string, s: number, t = now, i = 1) => encodeMessage(SECRET, 'heartbeat', { n, i, s, t, r: 1 });

    await send('127.0.0.2', msg('node-2', 5));
    await a!.waitFor(accepted('node-2'));
    expect(a!.m.live().has('node-2')).toBe(true);

    await send('127.0.0.2', msg('node-2', 5)); // the same datagram again
    await a!.waitFor(rejected('replay'));
    await send('127.0.0.2', msg('node-2', 4, now, 1));
    await send('127.0.0.2', msg('node-2', 99, now, 0)); // an older incarnation
    await a!.waitFor(() => count(a!, rejected('replay')) === 3);

    await send('127.0.0.3', msg('node-9', 1));
    await a!.waitFor(rejected('unknown-node'));
    await send('127.0.0.3', msg('node-2', 6)); // node-2's name from node-3's address
    await a!.waitFor(rejected('wrong-source'));
    await send('127.0.0.3', msg('node-3', 1, now - 120_000));
    await a!.waitFor(rejected('clock-skew'));
    await send('127.0.0.3', Buffer.from('PLB1 not a message'));
    await a!.waitFor(rejected('malformed'));
    expect(a!.m.live().has('node-3')).toBe(false);

    // A restarted peer has a new incarnation, so its sequence may start over.
    await send('127.0.0.2', msg('node-2', 1, now, 2));
    await a!.waitFor(() => count(a!, accepted('node-2')) === 2);
    expect(capture.lines.filter((l) => l['code'] === 'PORTICO_ERR_ANNOUNCE_REJECTED').map((l) => l['reason'])).toEqual(['replay', 'unknown-node', 'wrong-source', 'clock-skew', 'malformed']);
  });

  it('without a secret it warns and uses the well-known key', async () => {
    const capture = captureLogger('warn');
    const m = new Membership({ nodeName: 'node-1', bind: ['127.0.0.1'], port: 0, clock, timers: NEVER, logger: capture.logger });
    await m.start();
    await m.stop();
    expect(capture.lines.some((l) => l['code'] === 'PORTICO_ERR_ANNOUNCE_CONFIG')).toBe(true);
    expect(UNAUTHENTICATED_KEY.length).toBeGreaterThan(16);
  });

  it('a port in use is PORTICO_ERR_ANNOUNCE_HEARTBEAT', async () => {
    const [a] = await members(1);
    const port = a!.m.boundAddresses()[0]!.port;
    const other = new Membership({ nodeName: 'x', bind: ['127.0.0.1'], port, secret: SECRET, clock, timers: NEVER, logger: createSilentLogger() });
    await expect(other.start()).rejects.toMatchObject({ code: 'PORTICO_ERR_ANNOUNCE_HEARTBEAT' });
  });

  it('its timers send a heartbeat every intervalMs, and check expiry four times as often', async () => {
    const callbacks = new Map<number, () => void>();
    const timers = { setInterval: (cb: () => void, ms: number) => callbacks.set(ms, cb), clearInterval: () => {} };
    const [a] = await members(1);
    const b = new Membership({ nodeName: 'node-2', bind: ['127.0.0.2'], port: 0, secret: SECRET, clock, timers, intervalMs: 1000, deadAfterMs: 3000, logger: createSilentLogger() });
    await b.start();
    b.setPeers([{ name: 'node-1', address: '127.0.0.1', port: a!.m.boundAddresses()[0]!.port }]);
    a!.m.setPeers([{ name: 'node-2', address: '127.0.0.2', port: b.boundAddresses()[0]!.port }]);
    expect([...callbacks.keys()].sort()).toEqual([1000, 250]);
    callbacks.get(1000)!();
    await a!.waitFor(accepted('node-2'));
    a!.m.tick();
    for (let i = 0; i < 200 && !b.live().has('node-1'); i++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(b.live().has('node-1')).toBe(true);
    now += 3100; // no tick: only the expiry check runs
    callbacks.get(250)!();
    expect([...b.live()]).toEqual(['node-2']);
    await b.stop();
  });
});

describe('loadHeartbeatSecret', () => {
  it('reads the file without trailing whitespace, and refuses short or missing ones', async () => {
    const { mkdtemp, writeFile, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { loadHeartbeatSecret } = await import('../../src/lb-announce/heartbeat.js');
    const dir = await mkdtemp(join(tmpdir(), 'portico-secret-'));
    try {
      await writeFile(join(dir, 'ok'), 'a-long-enough-secret-value\r\n');
      expect((await loadHeartbeatSecret(join(dir, 'ok'))).toString()).toBe('a-long-enough-secret-value');
      await writeFile(join(dir, 'short'), 'short\n');
      await expect(loadHeartbeatSecret(join(dir, 'short'))).rejects.toMatchObject({ code: 'PORTICO_ERR_ANNOUNCE_CONFIG' });
      await expect(loadHeartbeatSecret(join(dir, 'missing'))).rejects.toMatchObject({ code: 'PORTICO_ERR_ANNOUNCE_CONFIG' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
