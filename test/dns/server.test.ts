import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Resolver } from 'node:dns/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as packet from '@leichtgewicht/dns-packet';
import type { Answer as Rr, Packet } from '@leichtgewicht/dns-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DnsServer } from '../../src/dns/server.js';
import { startDns, type RunningDns } from '../../src/dns/start-dns.js';
import { createSilentLogger } from '../../src/lib/logger.js';

// portico dns end to end: manifests → zone → UDP and TCP, asked by Node's resolver (c-ares), by
// dig, and by raw packets; forwarding to a fake upstream on loopback.

const logger = createSilentLogger();

const MANIFESTS = `
apiVersion: v1
kind: Service
metadata: { name: web, namespace: default }
spec:
  clusterIP: 10.96.0.20
  clusterIPs: [10.96.0.20]
  ports: [{ name: http, port: 80, protocol: TCP }]
---
apiVersion: v1
kind: Service
metadata: { name: many, namespace: default }
spec: { clusterIP: None, clusterIPs: [None] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: many-1, namespace: default, labels: { kubernetes.io/service-name: many } }
addressType: IPv4
ports: []
endpoints:
${Array.from({ length: 60 }, (_, i) => `  - addresses: [10.244.0.${i + 1}]`).join('\n')}
---
apiVersion: v1
kind: Service
metadata: { name: ext, namespace: default }
spec: { type: ExternalName, externalName: example.test }
`;

/** A fake upstream: `example.test` A 192.0.2.1 (TTL 60), `big.test` TXT too large for UDP, else NXDOMAIN. */
async function fakeUpstream() {
  const asked: string[] = [];
  const server = new DnsServer({
    host: '127.0.0.1',
    port: 0,
    logger,
    handler: async (bytes, transport) => {
      const query = packet.decode(bytes);
      const q = query.questions![0]!;
      asked.push(`${transport} ${q.name} ${q.type}`);
      let answers: Rr[] = [];
      let rcode = 3;
      if (q.name === 'example.test' && q.type === 'A') {
        answers = [{ name: q.name, type: 'A', class: 'IN', ttl: 60, data: '192.0.2.1' }];
        rcode = 0;
      } else if (q.name === 'big.test' && q.type === 'TXT') {
        answers = Array.from({ length: 20 }, (_, i) => ({ name: q.name, type: 'TXT', class: 'IN', ttl: 60, data: [`${i}-${'x'.repeat(200)}`] }) as Rr);
        rcode = 0;
      }
      const reply: Packet = { type: 'response', id: query.id, flags: 0x8080 | rcode, questions: [q], answers };
      let bytesOut = packet.encode(reply);
      if (transport === 'udp' && bytesOut.length > 1232) bytesOut = packet.encode({ ...reply, answers: [], flags: 0x8080 | 0x200 });
      return bytesOut;
    },
  });
  await server.listen();
  return { server, asked };
}

function rawUdp(port: number, messages: Uint8Array[]): Promise<Packet[]> {
  // Sends each message, then a good query; resolves with every reply up to the good one's.
  // Replies keep query order (one socket, loopback, handler order), so no timer decides "no reply".
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    const replies: Packet[] = [];
    socket.on('message', (message) => {
      const reply = packet.decode(message);
      replies.push(reply);
      if (reply.id === 0xbeef) {
        socket.close();
        resolve(replies);
      }
    });
    socket.on('error', reject);
    for (const m of messages) socket.send(m, port, '127.0.0.1');
    socket.send(packet.encode({ type: 'query', id: 0xbeef, questions: [{ name: 'web.default.svc.cluster.local', type: 'A', class: 'IN' }] }), port, '127.0.0.1');
  });
}

function rawTcp(port: number, query: Uint8Array): Promise<Packet> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let buffered = Buffer.alloc(0);
    socket.on('connect', () => {
      const frame = Buffer.alloc(2 + query.length);
      frame.writeUInt16BE(query.length, 0);
      frame.set(query, 2);
      socket.write(frame);
    });
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
        socket.destroy();
        resolve(packet.decode(buffered.subarray(2, 2 + buffered.readUInt16BE(0))));
      }
    });
    socket.on('error', reject);
    socket.on('close', () => reject(new Error('closed without a reply')));
  });
}

async function poll<T>(probe: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  for (let i = 0; ; i++) {
    const value = await probe();
    if (done(value) || i > 2000) return value;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const header = (qd: number, an = 0, ns = 0, ar = 0, id = 7) => {
  const b = Buffer.alloc(12);
  b.writeUInt16BE(id, 0);
  b.writeUInt16BE(0x0100, 2);
  b.writeUInt16BE(qd, 4);
  b.writeUInt16BE(an, 6);
  b.writeUInt16BE(ns, 8);
  b.writeUInt16BE(ar, 10);
  return b;
};
const question = (name: string, type = 'A', id = 7, opt?: number) =>
  packet.encode({ type: 'query', id, flags: packet.RECURSION_DESIRED, questions: [{ name, type: type as 'A', class: 'IN' }], ...(opt !== undefined && { additionals: [{ type: 'OPT', name: '.', udpPayloadSize: opt, data: [] } as unknown as Rr] }) });

describe('portico dns end to end', () => {
  let dir: string;
  let upstream: Awaited<ReturnType<typeof fakeUpstream>>;
  let dns: RunningDns;
  let resolver: Resolver;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'portico-dns-'));
    writeFileSync(join(dir, 'cluster.yaml'), MANIFESTS);
    upstream = await fakeUpstream();
    dns = await startDns({ manifestsDir: dir, host: '127.0.0.1', port: 0, zone: 'cluster.local', ttl: 5, upstreams: [{ host: '127.0.0.1', port: upstream.server.port }], pods: 'insecure', metricsPort: 0, logger });
    resolver = new Resolver({ timeout: 2000, tries: 2 });
    resolver.setServers([`127.0.0.1:${dns.server.port}`]);
  });
  afterAll(async () => {
    await dns?.close();
    await upstream?.server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("answers A, SRV and PTR to Node's resolver over UDP", async () => {
    expect(await resolver.resolve4('web.default.svc.cluster.local')).toEqual(['10.96.0.20']);
    expect(await resolver.resolveSrv('_http._tcp.web.default.svc.cluster.local')).toMatchObject([{ name: 'web.default.svc.cluster.local', port: 80, priority: 0, weight: 100 }]);
    expect(await resolver.reverse('10.96.0.20')).toEqual(['web.default.svc.cluster.local']);
    expect(await resolver.resolveCname('ext.default.svc.cluster.local')).toEqual(['example.test']);
  });

  it('tells NXDOMAIN (ENOTFOUND) from NODATA (ENODATA)', async () => {
    await expect(resolver.resolve4('nope.default.svc.cluster.local')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    await expect(resolver.resolve6('web.default.svc.cluster.local')).rejects.toMatchObject({ code: 'ENODATA' });
  });

  it('sets TC when the answer exceeds 512 bytes without EDNS; the resolver retries over TCP and gets all 60', async () => {
    const [udp] = await rawUdp(dns.server.port, [question('many.default.svc.cluster.local', 'A', 1)]);
    expect(udp!.flag_tc).toBe(true);
    expect(udp!.answers).toEqual([]);
    const withEdns = (await rawUdp(dns.server.port, [question('many.default.svc.cluster.local', 'A', 2, 4096)]))[0]!;
    expect(withEdns.flag_tc).toBe(false);
    expect(withEdns.answers).toHaveLength(60);
    const tcp = await rawTcp(dns.server.port, question('many.default.svc.cluster.local', 'A', 3));
    expect(tcp.answers).toHaveLength(60);
    expect((await resolver.resolve4('many.default.svc.cluster.local')).sort()).toHaveLength(60);
  });

  it('forwards names outside the zone, caches them, and fetches truncated upstream replies over TCP', async () => {
    const before = upstream.asked.length;
    expect(await resolver.resolve4('example.test')).toEqual(['192.0.2.1']);
    expect(await resolver.resolve4('example.test')).toEqual(['192.0.2.1']);
    expect(upstream.asked.slice(before)).toEqual(['udp example.test A']);
    const txt = await rawTcp(dns.server.port, question('big.test', 'TXT', 9));
    expect(txt.answers).toHaveLength(20);
    expect(upstream.asked.slice(before + 1)).toEqual(['udp big.test TXT', 'tcp big.test TXT']);
    const metrics = await (await fetch(`http://127.0.0.1:${dns.metricsAddress!.port}/metrics`)).text();
    expect(metrics).toMatch(/portico_dns_cache_hits_total [1-9]/);
    expect(metrics).toMatch(/portico_dns_queries_total\{rcode="NOERROR",type="A",proto="udp"\} [1-9]/);
  });

  it('shows an object change (a new Service) once the manifest changes', async () => {
    writeFileSync(
      join(dir, 'late.yaml'),
      'apiVersion: v1\nkind: Service\nmetadata: { name: late, namespace: default }\nspec: { clusterIP: 10.96.0.99, clusterIPs: [10.96.0.99] }\n',
    );
    const ips = await poll(
      () => resolver.resolve4('late.default.svc.cluster.local').catch(() => [] as string[]),
      (v) => v.length > 0,
    );
    expect(ips).toEqual(['10.96.0.99']);
    rmSync(join(dir, 'late.yaml'));
    const gone = await poll(
      () => resolver.resolve4('late.default.svc.cluster.local').then(() => 'found', (e: NodeJS.ErrnoException) => e.code!),
      (v) => v === 'ENOTFOUND',
    );
    expect(gone).toBe('ENOTFOUND');
  });

  describe('malformed queries over raw UDP get FORMERR or are dropped, and the server keeps answering', () => {
    const good = question('web.default.svc.cluster.local', 'A', 7);
    const cases: Array<[string, Uint8Array, 'FORMERR' | 'NOTIMP' | 'drop']> = [
      ['empty', new Uint8Array(0), 'drop'],
      ['shorter than a header', good.subarray(0, 5), 'drop'],
      ['a response, not a query', Buffer.concat([Buffer.from([0, 7, 0x81, 0x00]), good.subarray(4)]), 'drop'],
      ['question cut short', good.subarray(0, 20), 'FORMERR'],
      ['compression pointer to itself', Buffer.concat([header(1), Buffer.from([0xc0, 12, 0, 1, 0, 1])]), 'FORMERR'],
      ['compression pointer loop', Buffer.concat([header(1), Buffer.from([0xc0, 14, 0xc0, 12, 0, 1, 0, 1])]), 'FORMERR'],
      ['QDCOUNT 0', header(0), 'FORMERR'],
      ['QDCOUNT 2', Buffer.concat([header(2), good.subarray(12), good.subarray(12)]), 'FORMERR'],
      ['QDCOUNT 65535', Buffer.concat([header(65535), good.subarray(12)]), 'FORMERR'],
      ['ANCOUNT 65535', Buffer.concat([header(1, 65535), good.subarray(12)]), 'FORMERR'],
      ['ARCOUNT 65535', Buffer.concat([header(1, 0, 0, 65535), good.subarray(12)]), 'FORMERR'],
      ['a name over 255 bytes', Buffer.concat([header(1), ...Array.from({ length: 5 }, () => Buffer.concat([Buffer.from([63]), Buffer.alloc(63, 0x61)])), Buffer.from([0, 0, 1, 0, 1])]), 'FORMERR'],
      ['opcode STATUS', Buffer.concat([Buffer.from([0, 7, 0x10, 0x00]), good.subarray(4)]), 'NOTIMP'],
    ];
    for (const [title, bytes, want] of cases) {
      it(title, async () => {
        const replies = await rawUdp(dns.server.port, [bytes]);
        const last = replies.at(-1)!;
        expect(last.answers?.map((r) => (r as { data: string }).data)).toEqual(['10.96.0.20']);
        const before = replies.slice(0, -1);
        if (want === 'drop') expect(before).toEqual([]);
        else {
          expect(before).toHaveLength(1);
          expect(before[0]!.rcode).toBe(want);
          expect(before[0]!.id).toBe(7);
        }
      });
    }

    it('a TCP frame of garbage closes that connection only', async () => {
      await expect(rawTcp(dns.server.port, new Uint8Array([1, 2, 3]))).rejects.toThrow('closed without a reply');
      expect((await rawTcp(dns.server.port, good)).answers).toHaveLength(1);
    });
  });

  describe.skipIf(!existsSync('/usr/bin/dig'))('with dig (bind9-dnsutils)', () => {
    // Asynchronous: the server answers from this same process.
    const dig = (...args: string[]) => promisify(execFile)('dig', ['@127.0.0.1', '-p', String(dns.server.port), '+time=2', '+tries=2', ...args], { encoding: 'utf8' });
    it('over UDP and over TCP', async () => {
      for (const transport of ['+notcp', '+tcp']) {
        const out = await dig(transport, '+short', 'web.default.svc.cluster.local', 'A');
        expect(out.stdout.trim()).toBe('10.96.0.20');
      }
      expect((await dig('+tcp', '+short', '_http._tcp.web.default.svc.cluster.local', 'SRV')).stdout.trim()).toBe('0 100 80 web.default.svc.cluster.local.');
    });
    it('reports NXDOMAIN with the SOA, and the authoritative flag', async () => {
      const out = (await dig('nope.default.svc.cluster.local', 'A')).stdout;
      expect(out).toContain('status: NXDOMAIN');
      expect(out).toMatch(/flags: qr aa rd ra/);
      expect(out).toMatch(/cluster\.local\.\s+5\s+IN\s+SOA\s+ns\.dns\.cluster\.local\. hostmaster\.cluster\.local\./);
    });
    it('ANY gets the RFC 8482 HINFO', async () => {
      expect((await dig('+short', 'web.default.svc.cluster.local', 'ANY')).stdout.trim()).toBe('"RFC8482" ""');
    });
    it('a truncated UDP answer makes dig retry over TCP', async () => {
      const out = (await dig('+noedns', 'many.default.svc.cluster.local', 'A')).stdout;
      expect(out).toContain('Truncated, retrying in TCP mode');
      expect(out).toContain('ANSWER: 60');
    });
  });
});

describe('portico dns with its upstream down', () => {
  it('answers SERVFAIL (and counts the failure), never hangs', async () => {
    // A port nothing listens on: the connected UDP socket sees the ICMP refusal.
    const probe = createSocket('udp4');
    await new Promise<void>((resolve) => probe.bind(0, '127.0.0.1', () => resolve()));
    const deadPort = probe.address().port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const dir = mkdtempSync(join(tmpdir(), 'portico-dns-'));
    const dns = await startDns({ manifestsDir: dir, host: '127.0.0.1', port: 0, zone: 'cluster.local', ttl: 5, upstreams: [{ host: '127.0.0.1', port: deadPort }], pods: 'insecure', metricsPort: 0, logger });
    try {
      const resolver = new Resolver({ timeout: 5000, tries: 1 });
      resolver.setServers([`127.0.0.1:${dns.server.port}`]);
      await expect(resolver.resolve4('example.test')).rejects.toMatchObject({ code: 'ESERVFAIL' });
      await expect(resolver.resolve4('again.example.test')).rejects.toMatchObject({ code: 'ESERVFAIL' });
      const metrics = await dns.metrics.render();
      expect(metrics).toMatch(/portico_dns_upstream_failures_total\{upstream="127\.0\.0\.1:\d+"\} [1-9]/);
      expect(metrics).toMatch(/portico_dns_queries_total\{rcode="SERVFAIL",type="A",proto="udp"\} 2/);
    } finally {
      await dns.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
