// HTTPS beside nginx, same machine, one run: keep-alive requests/s (autocannon, 50 connections,
// SNI web.example.com) and new TLS handshakes/s (`openssl s_time -new`, a full handshake plus one
// request per connection). Both proxies: one process/worker, the same echo backend (its own
// process) over upstream keep-alive, the same RSA-2048 certificate from certs/, access logs off.
//
//   npm run build && node dist/cmd/portico.js certs && node bench/tls/https.bench.js
//
// Env: ROUNDS (3), WARMUP_S (2), DURATION_S (8), CONNECTIONS (50). Writes bench/results/https.json.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '../..');
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const WARMUP_S = Number(process.env.WARMUP_S ?? 2);
const DURATION_S = Number(process.env.DURATION_S ?? 8);
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 50);
const CLK_TCK = 100;
const certs = join(root, 'certs');
if (!existsSync(join(certs, 'web.example.com.crt'))) throw new Error('run `node dist/cmd/portico.js certs` first');
if (spawnSync('nginx', ['-v']).error) throw new Error('nginx is not installed (apt-get install nginx-light)');

const work = mkdtempSync(join(tmpdir(), 'portico-https-bench-'));
const children = [];
const stopAll = () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  rmSync(work, { recursive: true, force: true });
};
process.once('exit', stopAll);
process.once('SIGINT', () => process.exit(130));

function spawnProcess(command, args, waitFor) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let out = '';
    const onData = (chunk) => {
      out += chunk;
      const found = waitFor(out);
      if (found !== undefined) resolve({ child, pid: child.pid, ...found });
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${command} exited early (${code}): ${out}`)));
  });
}

const freePort = (() => {
  let next = 20000 + Math.floor(Math.random() * 20000);
  return () => next++;
})();

const backend = await spawnProcess(process.execPath, ['dist/echo/echo-main.js'], (out) => {
  const line = out.split('\n')[0];
  try {
    return { port: JSON.parse(line).port };
  } catch {
    return undefined;
  }
});

// Portico: the real CLI over a manifest directory.
const manifests = join(work, 'manifests');
mkdirSync(manifests);
const b64 = (file) => readFileSync(join(certs, file)).toString('base64');
writeFileSync(
  join(manifests, 'bench.json'),
  JSON.stringify({
    apiVersion: 'v1',
    kind: 'List',
    items: [
      { apiVersion: 'networking.k8s.io/v1', kind: 'IngressClass', metadata: { name: 'portico' }, spec: { controller: 'portico.dev/ingress-controller' } },
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'echo', namespace: 'bench' }, spec: { ports: [{ port: 80 }] } },
      { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 'echo-1', namespace: 'bench', labels: { 'kubernetes.io/service-name': 'echo' } }, addressType: 'IPv4', ports: [{ port: backend.port }], endpoints: [{ addresses: ['127.0.0.1'] }] },
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'web-tls', namespace: 'bench' }, type: 'kubernetes.io/tls', data: { 'tls.crt': b64('web.example.com.crt'), 'tls.key': b64('web.example.com.key') } },
      { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'echo', namespace: 'bench' }, spec: { ingressClassName: 'portico', tls: [{ hosts: ['web.example.com'], secretName: 'web-tls' }], defaultBackend: { service: { name: 'echo', port: { number: 80 } } }, rules: [{ host: 'web.example.com', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'echo', port: { number: 80 } } } }] } }] } },
    ],
  }),
);
// --default-ssl-certificate: s_time sends no SNI, so both proxies serve the same certificate to it.
const porticoPort = freePort();
const portico = await spawnProcess(
  process.execPath,
  ['dist/cmd/portico.js', 'controller', '--manifests', manifests, '--http-port', '0', '--https-port', String(porticoPort), '--admin-port', '0', '--bind-address', '127.0.0.1', '--disable-access-log', '--default-ssl-certificate', 'bench/web-tls'],
  (out) => (out.includes('"https"') ? {} : undefined),
);

const nginxPort = freePort();
mkdirSync(join(work, 'nginx'));
writeFileSync(
  join(work, 'nginx/nginx.conf'),
  `worker_processes 1;
pid ${work}/nginx/nginx.pid;
error_log ${work}/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${work}/nginx/body; proxy_temp_path ${work}/nginx/proxy;
  fastcgi_temp_path ${work}/nginx/fastcgi; uwsgi_temp_path ${work}/nginx/uwsgi; scgi_temp_path ${work}/nginx/scgi;
  upstream echo { server 127.0.0.1:${backend.port}; keepalive 64; }
  server {
    listen 127.0.0.1:${nginxPort} ssl;
    server_name web.example.com;
    ssl_certificate ${certs}/web.example.com.crt;
    ssl_certificate_key ${certs}/web.example.com.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:SSL:10m;
    keepalive_requests 100000;
    location / { proxy_pass http://echo; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host $host; }
  }
}
`,
);
const nginx = spawn('nginx', ['-p', join(work, 'nginx'), '-c', join(work, 'nginx/nginx.conf'), '-g', 'daemon off;'], { stdio: 'inherit' });
children.push(nginx);
// nginx prints nothing when it starts; give it a moment, then check its processes.
await new Promise((r) => setTimeout(r, 500));
// The master and its workers (workers' command lines don't name the config).
const nginxPids = () => [nginx.pid, ...spawnSync('pgrep', ['-P', String(nginx.pid)]).stdout.toString().trim().split('\n').filter(Boolean).map(Number)];
if (nginx.exitCode !== null || nginxPids().length < 2) throw new Error(`nginx did not start (exit ${nginx.exitCode})`);

const treeTicks = (pids) =>
  pids.reduce((sum, pid) => {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      return sum + Number(fields[11]) + Number(fields[12]);
    } catch {
      return sum;
    }
  }, 0);

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const targets = [
  { name: 'portico', port: porticoPort, pids: () => [portico.pid] },
  { name: 'nginx', port: nginxPort, pids: nginxPids },
];

async function keepAlive(target, duration) {
  return autocannon({ url: `https://127.0.0.1:${target.port}/`, servername: 'web.example.com', headers: { host: 'web.example.com' }, connections: CONNECTIONS, duration });
}

function handshakes(target, seconds) {
  const result = spawnSync('openssl', ['s_time', '-connect', `127.0.0.1:${target.port}`, '-new', '-time', String(seconds), '-www', '/'], { encoding: 'utf8' });
  const match = /(\d+) connections in ([\d.]+)s; ([\d.]+) connections\/user sec/.exec(result.stdout);
  const real = /(\d+) connections in (\d+) real seconds/.exec(result.stdout);
  if (!match || !real) throw new Error(`openssl s_time: ${result.stdout}${result.stderr}`);
  return { connections: Number(real[1]), perSecond: Number(real[1]) / Number(real[2]) };
}

const samples = { portico: [], nginx: [] };
for (let round = 0; round < ROUNDS; round++) {
  const order = round % 2 === 0 ? targets : [...targets].reverse();
  for (const target of order) {
    await keepAlive(target, WARMUP_S);
    const t0 = treeTicks(target.pids());
    const ka = await keepAlive(target, DURATION_S);
    const t1 = treeTicks(target.pids());
    const hs0 = treeTicks(target.pids());
    const hs = handshakes(target, Math.max(3, Math.round(DURATION_S / 2)));
    const hs1 = treeTicks(target.pids());
    const sample = {
      rps: ka.requests.total / ka.duration,
      p50: ka.latency.p50,
      p99: ka.latency.p99,
      errors: ka.errors + ka.timeouts + ka.non2xx,
      usPerReq: (((t1 - t0) / CLK_TCK) * 1e6) / ka.requests.total,
      handshakesPerSec: hs.perSecond,
      usPerHandshake: (((hs1 - hs0) / CLK_TCK) * 1e6) / hs.connections,
    };
    samples[target.name].push(sample);
    console.error(`round ${round + 1}/${ROUNDS} ${target.name.padEnd(8)} ${Math.round(sample.rps)} rps p50 ${sample.p50} p99 ${sample.p99} ms, ${sample.usPerReq.toFixed(1)} µs/req; ${sample.handshakesPerSec.toFixed(0)} handshakes/s, ${sample.usPerHandshake.toFixed(0)} µs/handshake; errors ${sample.errors}`);
  }
}
stopAll();

const summary = Object.fromEntries(
  Object.entries(samples).map(([name, s]) => [
    name,
    Object.fromEntries(['rps', 'p50', 'p99', 'errors', 'usPerReq', 'handshakesPerSec', 'usPerHandshake'].map((k) => [k, Math.round(median(s.map((x) => x[k])) * 10) / 10])),
  ]),
);
const ratio = (k) => Math.round((summary.portico[k] / summary.nginx[k]) * 100) / 100;
const ratios = { rps: ratio('rps'), p99: ratio('p99'), usPerReq: ratio('usPerReq'), handshakesPerSec: ratio('handshakesPerSec'), usPerHandshake: ratio('usPerHandshake') };
mkdirSync(join(root, 'bench/results'), { recursive: true });
writeFileSync(join(root, 'bench/results/https.json'), `${JSON.stringify({ benchmark: 'HTTPS keep-alive and handshakes beside nginx', node: process.version, date: new Date().toISOString(), rounds: ROUNDS, connections: CONNECTIONS, summary, ratios, samples }, null, 2)}\n`);
console.log('\n| proxy | keep-alive rps | p50 ms | p99 ms | CPU µs/req | handshakes/s | CPU µs/handshake | errors |\n|---|---|---|---|---|---|---|---|');
for (const [name, s] of Object.entries(summary)) console.log(`| ${name} | ${s.rps} | ${s.p50} | ${s.p99} | ${s.usPerReq} | ${s.handshakesPerSec} | ${s.usPerHandshake} | ${s.errors} |`);
console.log(`| portico / nginx | ${ratios.rps} | | ${ratios.p99} | ${ratios.usPerReq} | ${ratios.handshakesPerSec} | ${ratios.usPerHandshake} | |`);
