import { createSocket, type Socket } from 'node:dgram';
import * as packet from '@leichtgewicht/dns-packet';
import type { Answer as Rr } from '@leichtgewicht/dns-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Forwarder } from '../../src/dns/forwarder.js';
import { DnsServer } from '../../src/dns/server.js';
import { createSilentLogger } from '../../src/lib/logger.js';

// The forwarder's cache follows the records' TTLs on an injected clock, negative answers live
// the SOA minimum, and an upstream that does not answer is skipped (SERVFAIL at once) until
// downForMs has passed on that clock.

const soa = (name: string): Rr => ({ name, type: 'SOA', class: 'IN', ttl: 60, data: { mname: 'ns.test', rname: 'h.test', serial: 1, refresh: 1, retry: 1, expire: 1, minimum: 10 } }) as Rr;

describe('Forwarder', () => {
  const asked: string[] = [];
  let upstream: DnsServer;
  let blackhole: Socket;
  let blackholeSeen = 0;

  beforeAll(async () => {
    upstream = new DnsServer({
      host: '127.0.0.1',
      port: 0,
      logger: createSilentLogger(),
      handler: async (bytes) => {
        const query = packet.decode(bytes);
        const q = query.questions![0]!;
        asked.push(q.name);
        const found = q.name.endsWith('.ok.test');
        return packet.encode({
          type: 'response',
          id: query.id,
          flags: 0x8080 | (found ? 0 : 3),
          questions: [q],
          answers: found ? [{ name: q.name, type: 'A', class: 'IN', ttl: 60, data: '192.0.2.7' }] : [],
          authorities: found ? [] : [soa('test')],
        });
      },
    });
    await upstream.listen();
    blackhole = createSocket('udp4');
    blackhole.on('message', () => blackholeSeen++);
    await new Promise<void>((resolve) => blackhole.bind(0, '127.0.0.1', () => resolve()));
  });
  afterAll(async () => {
    await upstream.close();
    blackhole.close();
  });

  it('serves from the cache with the remaining TTL, and asks again once it expired', async () => {
    let now = 1_000_000;
    const forwarder = new Forwarder({ upstreams: [{ host: '127.0.0.1', port: upstream.port }], now: () => now });
    try {
      const first = await forwarder.resolve({ name: 'a.ok.test', type: 'A' });
      expect(first).toMatchObject({ rcode: 0, fromCache: false, answers: [{ data: '192.0.2.7', ttl: 60 }] });
      now += 10_000;
      expect(await forwarder.resolve({ name: 'A.OK.test', type: 'A' })).toMatchObject({ fromCache: true, answers: [{ ttl: 50 }] });
      expect(asked.filter((n) => n === 'a.ok.test')).toHaveLength(1);
      now += 50_000;
      expect(await forwarder.resolve({ name: 'a.ok.test', type: 'A' })).toMatchObject({ fromCache: false });
      expect(asked.filter((n) => n === 'a.ok.test')).toHaveLength(2);
    } finally {
      forwarder.close();
    }
  });

  it('caches NXDOMAIN for the SOA minimum (RFC 2308)', async () => {
    let now = 0;
    const forwarder = new Forwarder({ upstreams: [{ host: '127.0.0.1', port: upstream.port }], now: () => now });
    try {
      expect(await forwarder.resolve({ name: 'gone.test', type: 'A' })).toMatchObject({ rcode: 3, fromCache: false });
      now += 9_000;
      expect(await forwarder.resolve({ name: 'gone.test', type: 'A' })).toMatchObject({ rcode: 3, fromCache: true });
      now += 1_000;
      expect(await forwarder.resolve({ name: 'gone.test', type: 'A' })).toMatchObject({ rcode: 3, fromCache: false });
    } finally {
      forwarder.close();
    }
  });

  it('one question in flight many times asks the upstream once', async () => {
    const forwarder = new Forwarder({ upstreams: [{ host: '127.0.0.1', port: upstream.port }] });
    try {
      const answers = await Promise.all(Array.from({ length: 20 }, () => forwarder.resolve({ name: 'burst.ok.test', type: 'A' })));
      expect(answers.every((a) => a.rcode === 0)).toBe(true);
      expect(asked.filter((n) => n === 'burst.ok.test')).toHaveLength(1);
    } finally {
      forwarder.close();
    }
  });

  it('skips an upstream that did not answer, and gives SERVFAIL at once while all are down', async () => {
    let now = 0;
    const failures: string[] = [];
    const forwarder = new Forwarder({
      upstreams: [{ host: '127.0.0.1', port: blackhole.address().port }],
      timeoutMs: 50,
      downForMs: 5_000,
      now: () => now,
      observer: { upstreamFailure: (u, reason) => failures.push(`${u.port} ${reason}`) },
    });
    try {
      expect(await forwarder.resolve({ name: 'x.ok.test', type: 'A' })).toMatchObject({ rcode: 2 });
      expect(blackholeSeen).toBe(1);
      expect(failures).toEqual([`${blackhole.address().port} no reply within 50 ms`]);
      // Marked down: the next query does not even reach it.
      expect(await forwarder.resolve({ name: 'y.ok.test', type: 'A' })).toMatchObject({ rcode: 2 });
      expect(blackholeSeen).toBe(1);
      now += 5_000;
      expect(await forwarder.resolve({ name: 'z.ok.test', type: 'A' })).toMatchObject({ rcode: 2 });
      expect(blackholeSeen).toBe(2);
    } finally {
      forwarder.close();
    }
  });

  it('fails over to the next upstream', async () => {
    const forwarder = new Forwarder({ upstreams: [{ host: '127.0.0.1', port: blackhole.address().port }, { host: '127.0.0.1', port: upstream.port }], timeoutMs: 50 });
    try {
      expect(await forwarder.resolve({ name: 'failover.ok.test', type: 'A' })).toMatchObject({ rcode: 0, answers: [{ data: '192.0.2.7' }] });
    } finally {
      forwarder.close();
    }
  });
});
