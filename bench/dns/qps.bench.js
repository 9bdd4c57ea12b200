// portico dns queries/s, measured with dnsperf (DNS-OARC, Debian package `dnsperf`) on loopback:
//   in-zone   A lookups of 1,000 ClusterIP Services (svcN.default.svc.cluster.local)
//   forwarded A lookups of 100 names outside the zone, served from the cache after a warm-up
// and the same two loads against dnsmasq (Debian `dnsmasq-base`) as the side-by-side peer: the
// Services as an addn-hosts file, the forwarded names through its cache to the same upstream.
// The upstream is a small authoritative fake in this process (TTL 3600), so the cached runs never
// leave the box. CoreDNS's published figure (coredns/deployment kubernetes/Scaling_CoreDNS.md):
// 33,669 internal QPS on a GCE n1-standard-2 with both vCPUs pegged, through kubernetes/perf-tests/dns.
//
//   npm run build && node bench/dns/qps.bench.js      (BENCH_SECONDS=10 BENCH_OUTSTANDING=100)
//
// Writes bench/results/dns-qps.json. Everything it starts is stopped, its temp dir removed.
import { spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const OUTSTANDING = Number(process.env.BENCH_OUTSTANDING ?? 100);
const SERVICES = 1000;
const FORWARDED = 100;
const has = (tool) => ['/usr/bin', '/usr/sbin', '/bin', '/sbin', '/usr/local/bin'].some((d) => existsSync(join(d, tool)));

if (!has('dnsperf')) {
  console.error('bench/dns: needs dnsperf (apt-get install dnsperf)');
  process.exit(0);
}
if (!existsSync(join(REPO, 'dist', 'cmd', 'portico.js'))) {
  console.error('bench/dns: run npm run build first');
  process.exit(1);
}

const dir = mkdtempSync(join(tmpdir(), 'portico-dns-bench-'));
const children = [];

function freePort() {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    s.bind(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// A child process: dnsperf runs synchronously here, which would stall an upstream in this one.
const UPSTREAM = `
const dgram = require('node:dgram');
const packet = require(process.argv[2]);
const socket = dgram.createSocket('udp4');
socket.on('message', (message, remote) => {
  let q;
  try { q = packet.decode(message); } catch { return; }
  const question = q.questions[0];
  const answers = question.type === 'A' ? [{ name: question.name, type: 'A', class: 'IN', ttl: 3600, data: '192.0.2.1' }] : [];
  socket.send(packet.encode({ type: 'response', id: q.id, flags: 0x8580, questions: q.questions, answers }), remote.port, remote.address);
});
socket.bind(Number(process.argv[1]), '127.0.0.1');
`;

function startUpstream(port) {
  const child = spawn(process.execPath, ['-e', UPSTREAM, String(port), join(REPO, 'node_modules', '@leichtgewicht', 'dns-packet', 'index.js')], { stdio: ['ignore', 'inherit', 'inherit'] });
  children.push(child);
  return child;
}

async function waitAnswering(port, name) {
  for (let i = 0; i < 500; i++) {
    const r = spawnSync('dig', ['@127.0.0.1', '-p', String(port), '+short', '+time=1', '+tries=1', name], { encoding: 'utf8' });
    if (r.stdout.trim() !== '') return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`nothing answers ${name} on port ${port}`);
}

function dnsperf(port, file) {
  const r = spawnSync('dnsperf', ['-s', '127.0.0.1', '-p', String(port), '-d', file, '-l', String(SECONDS), '-q', String(OUTSTANDING), '-t', '2'], { encoding: 'utf8' });
  const qps = Number(/Queries per second:\s+([\d.]+)/.exec(r.stdout)?.[1]);
  const lost = /Queries lost:\s+(\d+)/.exec(r.stdout)?.[1];
  const latency = Number(/Average Latency \(s\):\s+([\d.]+)/.exec(r.stdout)?.[1]);
  const completed = /Queries completed:\s+(\d+)/.exec(r.stdout)?.[1];
  if (!(qps > 0)) throw new Error(`dnsperf failed: ${r.stdout}\n${r.stderr}`);
  return { qps: Math.round(qps), completed: Number(completed), lost: Number(lost), avgLatencyMs: Math.round(latency * 100000) / 100 };
}

function cpuSeconds(pid) {
  // utime + stime of the server process, in seconds (USER_HZ 100).
  const stat = spawnSync('cat', [`/proc/${pid}/stat`], { encoding: 'utf8' }).stdout;
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function measure(label, pid, port, file) {
  const before = cpuSeconds(pid);
  const result = dnsperf(port, file);
  const cpu = cpuSeconds(pid) - before;
  const out = { ...result, serverCpuSeconds: Math.round(cpu * 10) / 10, serverCpuCores: Math.round((cpu / SECONDS) * 100) / 100 };
  console.log(`${label}: ${out.qps} q/s, ${out.avgLatencyMs} ms avg, lost ${out.lost}, server CPU ${out.serverCpuCores} cores`);
  return out;
}

try {
  const upstreamPort = await freePort();
  startUpstream(upstreamPort);
  await waitAnswering(upstreamPort, 'probe.example.test');
  const manifests = join(dir, 'manifests');
  mkdirSync(manifests);
  const docs = [];
  const hosts = [];
  for (let i = 0; i < SERVICES; i++) {
    const ip = `10.96.${(i >> 8) & 0xff}.${i & 0xff}`;
    docs.push(`apiVersion: v1\nkind: Service\nmetadata: { name: svc${i}, namespace: default }\nspec: { clusterIP: ${ip}, clusterIPs: [${ip}], ports: [{ name: http, port: 80 }] }\n`);
    hosts.push(`${ip} svc${i}.default.svc.cluster.local`);
  }
  writeFileSync(join(manifests, 'services.yaml'), docs.join('---\n'));
  writeFileSync(join(dir, 'hosts'), `${hosts.join('\n')}\n`);
  writeFileSync(join(dir, 'in-zone.txt'), `${Array.from({ length: SERVICES }, (_, i) => `svc${i}.default.svc.cluster.local A`).join('\n')}\n`);
  writeFileSync(join(dir, 'forwarded.txt'), `${Array.from({ length: FORWARDED }, (_, i) => `host${i}.example.test A`).join('\n')}\n`);

  const results = { seconds: SECONDS, outstanding: OUTSTANDING, services: SERVICES, node: process.version, servers: {} };

  const porticoPort = await freePort();
  const portico = spawn(process.execPath, [join(REPO, 'dist', 'cmd', 'portico.js'), 'dns', '--manifests', manifests, '--listen', `127.0.0.1:${porticoPort}`, '--upstream', `127.0.0.1:${upstreamPort}`, '--metrics-port', '0', '--log-level', 'warn'], { stdio: ['ignore', 'inherit', 'inherit'] });
  children.push(portico);
  await waitAnswering(porticoPort, `svc${SERVICES - 1}.default.svc.cluster.local`);
  dnsperf(porticoPort, join(dir, 'forwarded.txt')); // warm the cache (and the JIT)
  results.servers.portico = {
    inZone: measure('portico in-zone', portico.pid, porticoPort, join(dir, 'in-zone.txt')),
    forwardedCached: measure('portico forwarded (cached)', portico.pid, porticoPort, join(dir, 'forwarded.txt')),
  };
  portico.kill('SIGTERM');

  if (has('dnsmasq')) {
    const dnsmasqPort = await freePort();
    const dnsmasq = spawn('dnsmasq', ['--keep-in-foreground', '--no-resolv', '--no-hosts', '--conf-file=/dev/null', '--user=root', `--pid-file=${join(dir, 'dnsmasq.pid')}`, `--port=${dnsmasqPort}`, '--listen-address=127.0.0.1', '--bind-interfaces', `--server=127.0.0.1#${upstreamPort}`, '--cache-size=10000', `--addn-hosts=${join(dir, 'hosts')}`, '--dns-forward-max=1000'], { stdio: ['ignore', 'inherit', 'inherit'] });
    children.push(dnsmasq);
    await waitAnswering(dnsmasqPort, `svc${SERVICES - 1}.default.svc.cluster.local`);
    dnsperf(dnsmasqPort, join(dir, 'forwarded.txt'));
    results.servers.dnsmasq = {
      version: spawnSync('dnsmasq', ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0],
      inZone: measure('dnsmasq in-zone (addn-hosts)', dnsmasq.pid, dnsmasqPort, join(dir, 'in-zone.txt')),
      forwardedCached: measure('dnsmasq forwarded (cached)', dnsmasq.pid, dnsmasqPort, join(dir, 'forwarded.txt')),
    };
    dnsmasq.kill('SIGTERM');
  } else {
    console.log('dnsmasq not installed (apt-get install dnsmasq-base): no side-by-side peer');
  }
  results.coredns = { source: 'coredns/deployment kubernetes/Scaling_CoreDNS.md', internalQps: 33669, externalQpsWithAutopath: 31428, machine: 'GCE n1-standard-2, both vCPUs pegged, kubernetes/perf-tests/dns (dnsperf)' };
  mkdirSync(join(REPO, 'bench', 'results'), { recursive: true });
  writeFileSync(join(REPO, 'bench', 'results', 'dns-qps.json'), `${JSON.stringify(results, null, 2)}\n`);
  console.log(JSON.stringify(results, null, 2));
} finally {
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
}
