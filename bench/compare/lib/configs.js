// Equivalent configurations for Portico (a manifest directory), nginx and HAProxy, rendered into a
// temporary directory. "Equivalent" means, for every proxy:
//   - the same routes: web.example.com (HTTP and HTTPS, TLS with certs/web.example.com.*) for the
//     base profile; 1,000 hosts × 10 prefix paths over 10 Services for the routing profile;
//   - upstream keep-alive to the one echo backend (HTTP/1.1, no per-request connection);
//   - the same request rewriting Portico does: X-Forwarded-For/-Host/-Port/-Proto and X-Real-IP set,
//     hop-by-hop headers dropped, Upgrade passed through for WebSocket;
//   - HSTS on HTTPS responses (Portico's default), no access log, no response buffering to disk
//     (ingress-nginx's default is `proxy_buffering off`; Portico streams);
//   - one worker (nginx worker_processes 1, HAProxy nbthread 1, one Portico process) unless
//     `workers` says otherwise.
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export const TLS_HOST = 'web.example.com';
export const ROUTING = { hosts: 1000, pathsPerHost: 10, services: 10 };
export const routingHost = (i) => `h${i}.bench.example.com`;
export const routingPath = (j) => `/p${j}`;

const HSTS = 'max-age=31536000; includeSubDomains';

/** The manifests Portico serves for a profile ('base' or 'routing'). */
export function renderPorticoManifests({ profile, backendPort, certs }) {
  const b64 = (file) => readFileSync(join(certs, file)).toString('base64');
  const items = [
    { apiVersion: 'networking.k8s.io/v1', kind: 'IngressClass', metadata: { name: 'portico' }, spec: { controller: 'portico.dev/ingress-controller' } },
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'web-tls', namespace: 'bench' }, type: 'kubernetes.io/tls', data: { 'tls.crt': b64(`${TLS_HOST}.crt`), 'tls.key': b64(`${TLS_HOST}.key`) } },
  ];
  const service = (name) => [
    { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'bench' }, spec: { ports: [{ port: 80 }] } },
    {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: `${name}-1`, namespace: 'bench', labels: { 'kubernetes.io/service-name': name } },
      addressType: 'IPv4',
      ports: [{ port: backendPort }],
      endpoints: [{ addresses: ['127.0.0.1'] }],
    },
  ];
  const backend = (name) => ({ service: { name, port: { number: 80 } } });
  // Plain HTTP must not be redirected to HTTPS (Portico's default for TLS hosts, like ingress-nginx).
  const noRedirect = { 'nginx.ingress.kubernetes.io/ssl-redirect': 'false' };
  if (profile === 'base') {
    items.push(...service('echo'), {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name: 'echo', namespace: 'bench', annotations: noRedirect },
      spec: {
        ingressClassName: 'portico',
        tls: [{ hosts: [TLS_HOST], secretName: 'web-tls' }],
        rules: [{ host: TLS_HOST, http: { paths: [{ path: '/', pathType: 'Prefix', backend: backend('echo') }] } }],
      },
    });
  } else {
    for (let s = 0; s < ROUTING.services; s++) items.push(...service(`svc-${s}`));
    for (let i = 0; i < ROUTING.hosts; i++) {
      items.push({
        apiVersion: 'networking.k8s.io/v1',
        kind: 'Ingress',
        metadata: { name: `tenant-${i}`, namespace: 'bench', annotations: noRedirect },
        spec: {
          ingressClassName: 'portico',
          rules: [
            {
              host: routingHost(i),
              http: {
                paths: Array.from({ length: ROUTING.pathsPerHost }, (_, j) => ({ path: routingPath(j), pathType: 'Prefix', backend: backend(`svc-${j % ROUTING.services}`) })),
              },
            },
          ],
        },
      });
    }
  }
  return JSON.stringify({ apiVersion: 'v1', kind: 'List', items });
}

/** nginx.conf for a profile. `dir` holds its pid, logs and temp paths. */
export function renderNginxConf({ profile, dir, backendPort, httpPort, httpsPort, certs, workers = 1 }) {
  const reuseport = workers > 1 ? ' reuseport' : '';
  const upstream = (name) => `  upstream ${name} { server 127.0.0.1:${backendPort}; keepalive 64; keepalive_requests 1000000; keepalive_timeout 60s; }`;
  const common = `worker_processes ${workers};
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 16384; }
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 75s;
  server_names_hash_max_size 4096;
  server_names_hash_bucket_size 64;
  map $http_upgrade $connection_upgrade { default upgrade; '' ''; }
  map $scheme $hsts { https "${HSTS}"; default ''; }
  proxy_http_version 1.1;
  proxy_buffering off;
  proxy_set_header Host $http_host;
  proxy_set_header Connection $connection_upgrade;
  proxy_set_header Upgrade $http_upgrade;
  proxy_set_header X-Forwarded-For $remote_addr;
  proxy_set_header X-Real-IP $remote_addr;
  proxy_set_header X-Forwarded-Host $host;
  proxy_set_header X-Forwarded-Port $server_port;
  proxy_set_header X-Forwarded-Proto $scheme;
  proxy_read_timeout 60s;
`;
  let body;
  if (profile === 'base') {
    body = `${upstream('echo')}
  server {
    listen 127.0.0.1:${httpPort}${reuseport};
    listen 127.0.0.1:${httpsPort} ssl http2${reuseport};
    server_name ${TLS_HOST};
    ssl_certificate ${certs}/${TLS_HOST}.crt;
    ssl_certificate_key ${certs}/${TLS_HOST}.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:SSL:10m;
    add_header Strict-Transport-Security $hsts always;
    location / { proxy_pass http://echo; }
  }
`;
  } else {
    const lines = [];
    for (let s = 0; s < ROUTING.services; s++) lines.push(upstream(`svc_${s}`));
    lines.push(`  server { listen 127.0.0.1:${httpPort} default_server${reuseport}; return 404; }`);
    for (let i = 0; i < ROUTING.hosts; i++) {
      const locations = Array.from({ length: ROUTING.pathsPerHost }, (_, j) => `location ${routingPath(j)}/ { proxy_pass http://svc_${j % ROUTING.services}; }`).join(' ');
      lines.push(`  server { listen 127.0.0.1:${httpPort}; server_name ${routingHost(i)}; ${locations} }`);
    }
    body = `${lines.join('\n')}\n`;
  }
  return `${common}${body}}\n`;
}

/** Size of the nginx backend's small body (every path but the 1 MiB one). */
export const SMALL_BODY_BYTES = 128;

/**
 * nginx.conf for the backend: one worker, `return 200` with SMALL_BODY_BYTES bytes on any path,
 * /bytes/1048576 from a file (written here). Keep-alive without limits, no access log.
 */
export function renderNginxBackendConf({ dir, port }) {
  mkdirSync(dir, { recursive: true });
  const big = join(dir, 'bytes-1048576');
  writeFileSync(big, Buffer.alloc(1048576, 'x'));
  // nginx's workers run as an unprivileged user when started as root: they must be able to read it
  // (the temp dirs above it are mkdtemp's 0700).
  chmodSync(big, 0o644);
  for (let d = dir; d !== dirname(d) && d.startsWith(tmpdir()) && d !== tmpdir(); d = dirname(d)) chmodSync(d, 0o755);
  return `worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 16384; }
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 75s;
  sendfile on;
  tcp_nopush on;
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location = /bytes/1048576 { alias ${big}; }
    location / { return 200 "${'x'.repeat(SMALL_BODY_BYTES)}"; }
  }
}
`;
}

/** haproxy.cfg for a profile; writes the PEM bundle HAProxy needs next to it. */
export function renderHaproxyCfg({ profile, dir, backendPort, httpPort, httpsPort, certs, threads = 1 }) {
  mkdirSync(dir, { recursive: true });
  const pem = join(dir, 'web.pem');
  writeFileSync(pem, readFileSync(join(certs, `${TLS_HOST}.crt`), 'utf8') + readFileSync(join(certs, `${TLS_HOST}.key`), 'utf8'));
  const server = (name) => `backend ${name}\n  server s1 127.0.0.1:${backendPort}\n`;
  const head = `global
  nbthread ${threads}
  maxconn 8000
  ssl-default-bind-options ssl-min-ver TLSv1.2
  tune.ssl.default-dh-param 2048

defaults
  mode http
  timeout connect 5s
  timeout client 75s
  timeout server 60s
  timeout http-keep-alive 75s
  timeout tunnel 1h
  http-reuse always
  option forwardfor

`;
  const forwarded = `  http-request set-header X-Real-IP %[src]
  http-request set-header X-Forwarded-Host %[req.hdr(host)]
  http-request set-header X-Forwarded-Port %[dst_port]
  http-request set-header X-Forwarded-Proto https if { ssl_fc }
  http-request set-header X-Forwarded-Proto http if !{ ssl_fc }
`;
  if (profile === 'base') {
    return `${head}frontend fe
  bind 127.0.0.1:${httpPort}
  bind 127.0.0.1:${httpsPort} ssl crt ${pem} alpn h2,http/1.1
${forwarded}  http-response set-header Strict-Transport-Security "${HSTS}" if { ssl_fc }
  default_backend be_echo

${server('be_echo')}`;
  }
  // Routing: one map from "host/path-prefix/" to a backend; map_beg does longest-prefix matching.
  const map = join(dir, 'routes.map');
  const rows = [];
  for (let i = 0; i < ROUTING.hosts; i++) for (let j = 0; j < ROUTING.pathsPerHost; j++) rows.push(`${routingHost(i)}${routingPath(j)}/ be_svc${j % ROUTING.services}`);
  writeFileSync(map, `${rows.join('\n')}\n`);
  const backends = Array.from({ length: ROUTING.services }, (_, s) => server(`be_svc${s}`)).join('\n');
  return `${head}frontend fe
  bind 127.0.0.1:${httpPort}
${forwarded}  use_backend %[base,lower,map_beg(${map},be_none)]

backend be_none
  http-request return status 404

${backends}`;
}

/** Writes `text` to `dir/name` (creating dir) and returns the path. */
export function writeConfig(dir, name, text) {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}
