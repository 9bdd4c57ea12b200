import { describe, expect, it } from 'vitest';
import { answerQuestion, type AnswerOptions, type ZoneAnswer } from '../../src/dns/answer.js';
import { buildDnsZone, type DnsObjects } from '../../src/dns/records.js';
import type { Service } from '../../src/model/k8s-objects.js';
import { endpointSlice, pod, service, shuffled } from '../helpers/objects.js';

// A model cluster with one Service of every kind, and the answer to each record form
// (networking reference §5, CoreDNS kubernetes plugin).

type Ports = NonNullable<NonNullable<Service['spec']>['ports']>;

function clusterIP(key: string, ips: string[], ports: Ports = []): Service {
  const svc = service(key, ports);
  return { ...svc, spec: { ...svc.spec, clusterIP: ips[0]!, clusterIPs: ips } };
}
function headless(key: string, ports: Ports = [], extra: Partial<NonNullable<Service['spec']>> = {}): Service {
  const svc = service(key, ports);
  return { ...svc, spec: { ...svc.spec, clusterIP: 'None', clusterIPs: ['None'], ...extra } };
}

const objects: DnsObjects = {
  services: [
    clusterIP('default/web', ['10.96.0.20'], [{ name: 'http', port: 80, protocol: 'TCP' }, { port: 8080, protocol: 'TCP' }, { name: 'dns', port: 53, protocol: 'UDP' }]),
    clusterIP('default/dual', ['10.96.0.21', 'fd00:96::21'], [{ name: 'http', port: 80, protocol: 'TCP' }]),
    headless('default/db', [{ name: 'pg', port: 5432, protocol: 'TCP' }]),
    headless('default/empty'),
    headless('default/lazy', [], { publishNotReadyAddresses: true }),
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'ext', namespace: 'default' }, spec: { type: 'ExternalName', externalName: 'Example.COM.' } },
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'alias', namespace: 'default' }, spec: { type: 'ExternalName', externalName: 'web.default.svc.cluster.local' } },
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'broken', namespace: 'default' }, spec: { type: 'ExternalName', externalName: 'not a name' } },
    clusterIP('other/badip', ['10.96.0.300']),
    clusterIP('kube-system/kube-dns', ['10.96.0.10'], [{ name: 'dns', port: 53, protocol: 'UDP' }, { name: 'dns-tcp', port: 53, protocol: 'TCP' }]),
  ],
  endpointSlices: [
    endpointSlice('default/db-abc', {
      service: 'db',
      ports: [{ name: 'pg', port: 5432 }],
      endpoints: ['10.244.1.5', { addresses: ['10.244.2.6'], ready: false }],
    }),
    // The hostname form (a StatefulSet pod with hostname + subdomain).
    { ...endpointSlice('default/db-def', { service: 'db', ports: [{ name: 'pg', port: 5432 }], endpoints: ['10.244.3.7'] }) },
    endpointSlice('default/lazy-1', { service: 'lazy', ports: [], endpoints: [{ addresses: ['10.244.4.8'], ready: false }] }),
    endpointSlice('default/empty-1', { service: 'empty', ports: [], endpoints: [{ addresses: ['10.244.5.9'], ready: false }] }),
    endpointSlice('default/web-1', { service: 'web', ports: [{ name: 'http', port: 8080 }], endpoints: ['10.244.9.9'] }),
  ],
  pods: [pod('default/p1', ['10.244.1.5']), pod('other/p2', ['10.244.7.7'])],
};
(objects.endpointSlices as ReturnType<typeof endpointSlice>[])[1]!.endpoints[0]!.hostname = 'db-0';

const zone = buildDnsZone(objects, { zone: 'cluster.local.' });
const options: AnswerOptions = { ttl: 5, pods: 'insecure', serial: 7 };
const ask = (name: string, type: string, opts: Partial<AnswerOptions> = {}) => answerQuestion(zone, { name, type }, { ...options, ...opts }) as ZoneAnswer;
const data = (answer: ZoneAnswer) => answer.answers.map((r) => `${r.name} ${r.type} ${JSON.stringify((r as { data: unknown }).data)}`);

describe('dns records: every record form against a model cluster', () => {
  const cases: Array<[string, string, string, string[], Partial<AnswerOptions>?]> = [
    ['ClusterIP A', 'web.default.svc.cluster.local', 'A', ['web.default.svc.cluster.local A "10.96.0.20"']],
    ['names are case-insensitive, the answer keeps the asked case', 'WEB.Default.SVC.cluster.local.', 'A', ['WEB.Default.SVC.cluster.local. A "10.96.0.20"']],
    ['dual-stack A', 'dual.default.svc.cluster.local', 'A', ['dual.default.svc.cluster.local A "10.96.0.21"']],
    ['dual-stack AAAA', 'dual.default.svc.cluster.local', 'AAAA', ['dual.default.svc.cluster.local AAAA "fd00:96::21"']],
    ['SRV for a named port', '_http._tcp.web.default.svc.cluster.local', 'SRV', ['_http._tcp.web.default.svc.cluster.local SRV {"priority":0,"weight":100,"port":80,"target":"web.default.svc.cluster.local"}']],
    ['SRV for a UDP port', '_dns._udp.web.default.svc.cluster.local', 'SRV', ['_dns._udp.web.default.svc.cluster.local SRV {"priority":0,"weight":100,"port":53,"target":"web.default.svc.cluster.local"}']],
    ['PTR of a ClusterIP', '20.0.96.10.in-addr.arpa', 'PTR', ['20.0.96.10.in-addr.arpa PTR "web.default.svc.cluster.local"']],
    ['PTR of an IPv6 ClusterIP', '1.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.0.d.f.ip6.arpa', 'PTR', ['1.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.0.d.f.ip6.arpa PTR "dual.default.svc.cluster.local"']],
    ['headless A: one per ready endpoint', 'db.default.svc.cluster.local', 'A', ['db.default.svc.cluster.local A "10.244.1.5"', 'db.default.svc.cluster.local A "10.244.3.7"']],
    ['headless endpoint by hostname', 'db-0.db.default.svc.cluster.local', 'A', ['db-0.db.default.svc.cluster.local A "10.244.3.7"']],
    ['headless endpoint by dashed IP', '10-244-1-5.db.default.svc.cluster.local', 'A', ['10-244-1-5.db.default.svc.cluster.local A "10.244.1.5"']],
    ['headless SRV: one per ready endpoint × named port', '_pg._tcp.db.default.svc.cluster.local', 'SRV', [
      '_pg._tcp.db.default.svc.cluster.local SRV {"priority":0,"weight":50,"port":5432,"target":"10-244-1-5.db.default.svc.cluster.local"}',
      '_pg._tcp.db.default.svc.cluster.local SRV {"priority":0,"weight":50,"port":5432,"target":"db-0.db.default.svc.cluster.local"}',
    ]],
    ['PTR of a headless endpoint', '7.3.244.10.in-addr.arpa', 'PTR', ['7.3.244.10.in-addr.arpa PTR "db-0.db.default.svc.cluster.local"']],
    ['publishNotReadyAddresses: not-ready endpoints too', 'lazy.default.svc.cluster.local', 'A', ['lazy.default.svc.cluster.local A "10.244.4.8"']],
    ['ExternalName: CNAME', 'ext.default.svc.cluster.local', 'A', ['ext.default.svc.cluster.local CNAME "example.com"']],
    ['ExternalName inside the zone: CNAME and the target', 'alias.default.svc.cluster.local', 'A', ['alias.default.svc.cluster.local CNAME "web.default.svc.cluster.local"', 'web.default.svc.cluster.local A "10.96.0.20"']],
    ['pod A (insecure)', '10-244-9-1.default.pod.cluster.local', 'A', ['10-244-9-1.default.pod.cluster.local A "10.244.9.1"']],
    ['pod AAAA (insecure)', 'fd00--7.default.pod.cluster.local', 'AAAA', ['fd00--7.default.pod.cluster.local AAAA "fd00::7"']],
    ['pod A (verified, the pod exists there)', '10-244-1-5.default.pod.cluster.local', 'A', ['10-244-1-5.default.pod.cluster.local A "10.244.1.5"'], { pods: 'verified' }],
    ['dns-version TXT', 'dns-version.cluster.local', 'TXT', ['dns-version.cluster.local TXT ["1.1.0"]']],
    ['SOA of the zone', 'cluster.local', 'SOA', ['cluster.local SOA {"mname":"ns.dns.cluster.local","rname":"hostmaster.cluster.local","serial":7,"refresh":7200,"retry":1800,"expire":86400,"minimum":5}']],
  ];
  for (const [title, name, type, want, opts] of cases) {
    it(title, () => {
      const answer = ask(name, type, opts);
      expect(answer.kind).toBe('answer');
      expect(answer.rcode).toBe('NOERROR');
      expect(answer.authoritative).toBe(true);
      expect(data(answer)).toEqual(want);
    });
  }

  it('headless SRV carries the targets’ A records as additionals', () => {
    expect(ask('_pg._tcp.db.default.svc.cluster.local', 'SRV').additionals.map((r) => `${r.name} ${(r as { data: string }).data}`)).toEqual([
      '10-244-1-5.db.default.svc.cluster.local 10.244.1.5',
      'db-0.db.default.svc.cluster.local 10.244.3.7',
    ]);
  });

  const negatives: Array<[string, string, string, 'NXDOMAIN' | 'NOERROR', Partial<AnswerOptions>?]> = [
    ['unknown Service: NXDOMAIN', 'nope.default.svc.cluster.local', 'A', 'NXDOMAIN'],
    ['existing name, other type: NODATA', 'web.default.svc.cluster.local', 'AAAA', 'NOERROR'],
    ['a namespace (empty non-terminal): NODATA', 'default.svc.cluster.local', 'A', 'NOERROR'],
    ['svc.<zone>: NODATA', 'svc.cluster.local', 'A', 'NOERROR'],
    ['the zone apex, A: NODATA', 'cluster.local', 'A', 'NOERROR'],
    ['headless without ready endpoints: NXDOMAIN', 'empty.default.svc.cluster.local', 'A', 'NXDOMAIN'],
    ['not-ready endpoint has no name', '10-244-2-6.db.default.svc.cluster.local', 'A', 'NXDOMAIN'],
    ['SRV of an unnamed port: NXDOMAIN', '_8080._tcp.web.default.svc.cluster.local', 'SRV', 'NXDOMAIN'],
    ['SRV name asked for A: NODATA', '_http._tcp.web.default.svc.cluster.local', 'A', 'NOERROR'],
    ['bad Service skipped', 'broken.default.svc.cluster.local', 'A', 'NXDOMAIN'],
    ['bad clusterIP skipped', 'badip.other.svc.cluster.local', 'A', 'NXDOMAIN'],
    ['pod, v4 asked for AAAA: NODATA', '10-244-9-1.default.pod.cluster.local', 'AAAA', 'NOERROR'],
    ['pod label that is no IP: NXDOMAIN', 'web.default.pod.cluster.local', 'A', 'NXDOMAIN'],
    ['pod verified, no such pod: NXDOMAIN', '10-244-9-1.default.pod.cluster.local', 'A', 'NXDOMAIN', { pods: 'verified' }],
    ['pod verified, pod in another namespace: NXDOMAIN', '10-244-7-7.default.pod.cluster.local', 'A', 'NXDOMAIN', { pods: 'verified' }],
    ['pod disabled: NXDOMAIN', '10-244-1-5.default.pod.cluster.local', 'A', 'NXDOMAIN', { pods: 'disabled' }],
  ];
  for (const [title, name, type, rcode, opts] of negatives) {
    it(title, () => {
      const answer = ask(name, type, opts);
      expect(answer.rcode).toBe(rcode);
      expect(answer.answers).toEqual([]);
      expect(answer.authorities.map((r) => r.type)).toEqual(['SOA']);
    });
  }

  it('forwards names outside the zone, and reverse names of IPs it does not own', () => {
    expect(answerQuestion(zone, { name: 'example.com', type: 'A' }, options).kind).toBe('forward');
    expect(answerQuestion(zone, { name: '1.1.168.192.in-addr.arpa', type: 'PTR' }, options).kind).toBe('forward');
    expect(answerQuestion(zone, { name: 'cluster.localhost', type: 'A' }, options).kind).toBe('forward');
  });

  it('answers ANY with the minimal HINFO of RFC 8482, inside the zone and out; refuses zone transfers', () => {
    for (const name of ['web.default.svc.cluster.local', 'example.com']) {
      const answer = ask(name, 'ANY');
      expect(data(answer)).toEqual([`${name} HINFO {"cpu":"RFC8482","os":""}`]);
    }
    expect(ask('cluster.local', 'AXFR').rcode).toBe('REFUSED');
  });

  it('reports bad Services as diagnostics with a code, and builds the same zone from any order', () => {
    expect(zone.diagnostics.map((d) => `${d.code} ${d.object.namespace}/${d.object.name} ${d.field}`)).toEqual([
      'PORTICO_ERR_DNS_OBJECT default/broken spec.externalName',
      'PORTICO_ERR_DNS_OBJECT other/badip spec.clusterIPs[0]',
    ]);
    const again = buildDnsZone(
      { services: shuffled([...objects.services], 3), endpointSlices: shuffled([...objects.endpointSlices], 5), pods: objects.pods! },
      { zone: 'cluster.local' },
    );
    expect([...again.names.entries()].sort()).toEqual([...zone.names.entries()].sort());
    expect(JSON.stringify([...again.names.keys()].sort())).toBe(JSON.stringify([...zone.names.keys()].sort()));
    for (const [name, set] of zone.names) expect(again.names.get(name)).toEqual(set);
  });
});
