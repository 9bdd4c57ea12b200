// RouteTable.lookup cost at 10, 1,000 and 100,000 routes: it should stay flat (cost depends on the
// request path, not the route count).
//
//   npx tsc -p tsconfig.build.json && node bench/routing/route-table.bench.js
//
// Routes: half spread over tenant hosts (10 routes each: Prefix and Exact, a few levels deep), half
// under one big host (wide trie levels), plus a wildcard host, hostless prefixes and a defaultBackend.
// Lookups cycle through a fixed mix of hits and misses (exact host, wildcard, fall-through to
// hostless and defaultBackend, unknown hosts, Host with port/upper case, query strings).
// Host and path strings are reused across lookups, so their hashes are cached; a real request's
// fresh Host string costs one extra hash (~10-20 ns). Writes bench/results/route-table.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RouteTable } from '../../dist/routing/route-table.js';

const SIZES = [10, 1_000, 100_000];
const RUNS = 7;
const LOOKUPS_PER_RUN = 2_000_000;
const MIX = 1024;

const backend = (svc) => ({ key: `default/${svc}/80`, namespace: 'default', service: svc, port: 80 });
const route = (pathType, path, svc) => ({ pathType, path, backend: backend(svc), ingress: `default/${svc}` });

const TENANT_PATHS = [
  ['Prefix', '/'],
  ['Prefix', '/api'],
  ['Prefix', '/api/v1/users'],
  ['Prefix', '/static/'],
  ['Exact', '/healthz'],
  ['Exact', '/api/v1/status'],
];

function buildModel(totalRoutes) {
  const fixed = 4; // wildcard and hostless routes
  // Every size has complete tenant hosts, so each lookup does the same work at every size.
  const tenants = Math.max(1, Math.ceil((totalRoutes - fixed) / 2 / TENANT_PATHS.length));
  const bigRoutes = Math.max(0, totalRoutes - fixed - tenants * TENANT_PATHS.length);
  const virtualHosts = [];
  for (let t = 0; t < tenants; t++) {
    virtualHosts.push({ host: `tenant-${t}.example.com`, routes: TENANT_PATHS.map(([type, path], i) => route(type, path, `t${t}-s${i}`)) });
  }
  if (bigRoutes > 0) {
    const routes = [];
    for (let i = 0; i < bigRoutes; i++) routes.push(route(i % 5 === 0 ? 'Exact' : 'Prefix', `/team-${i % 100}/svc-${i}`, `big-${i}`));
    virtualHosts.push({ host: 'big.example.com', routes });
  }
  virtualHosts.push({
    host: '*.wild.example.com',
    routes: [route('Prefix', '/assets', 'wild-assets'), route('Exact', '/ping', 'wild-ping')],
  });
  virtualHosts.sort((a, b) => (a.host < b.host ? -1 : 1));
  const hostless = [route('Prefix', '/.well-known/acme-challenge', 'acme'), route('Exact', '/metrics', 'metrics')];
  const count = virtualHosts.reduce((n, v) => n + v.routes.length, hostless.length);
  return {
    model: { virtualHosts, hostless, defaultBackend: { backend: backend('fallback'), ingress: 'default/fallback' }, backends: [], ownedIngresses: [], diagnostics: [] },
    count,
    hosts: virtualHosts.length,
    tenants,
    bigRoutes,
  };
}

function lookupMix({ tenants, bigRoutes }, hot) {
  const hosts = new Array(MIX);
  const paths = new Array(MIX);
  for (let i = 0; i < MIX; i++) {
    const t = hot ? 0 : (i * 7919) % tenants;
    switch (i % 10) {
      case 0: hosts[i] = `tenant-${t}.example.com`; paths[i] = `/api/v1/users/${i}`; break; // deep prefix hit
      case 1: hosts[i] = `tenant-${t}.example.com`; paths[i] = '/healthz'; break; // exact hit
      case 2: hosts[i] = `Tenant-${t}.Example.com:443`; paths[i] = `/static/js/app-${i}.js?v=3`; break; // normalised host + query
      case 3: hosts[i] = `tenant-${t}.example.com`; paths[i] = '/metrics'; break; // falls through to hostless
      case 4: hosts[i] = `x${i}.wild.example.com`; paths[i] = `/assets/img/${i}.png`; break; // wildcard hit
      case 5: hosts[i] = `x${i}.wild.example.com`; paths[i] = '/ping'; break; // wildcard exact
      case 6: hosts[i] = `unknown-${i}.test`; paths[i] = '/.well-known/acme-challenge/token'; break; // hostless hit
      case 7: hosts[i] = `unknown-${i}.test`; paths[i] = `/nothing/here/${i}`; break; // miss → defaultBackend
      case 8:
        hosts[i] = bigRoutes > 0 ? 'big.example.com' : `tenant-${t}.example.com`;
        paths[i] = bigRoutes > 0 ? `/team-${(i * 31) % 100}/svc-${hot ? (i * 31) % 100 : (i * 131) % bigRoutes}/items/${i}` : '/api/v1/users/x/items';
        break; // hit in a wide trie level
      default: hosts[i] = `tenant-${t}.example.com`; paths[i] = '/apix/miss'; break; // host hit, path falls to '/'
    }
  }
  return { hosts, paths };
}

function measure(table, hosts, paths) {
  let sink = 0;
  const start = process.hrtime.bigint();
  for (let i = 0; i < LOOKUPS_PER_RUN; i++) {
    const m = table.lookup(hosts[i & (MIX - 1)], paths[i & (MIX - 1)]);
    if (m !== undefined) sink += m.ingress.length;
  }
  const ns = Number(process.hrtime.bigint() - start);
  if (sink === 0) throw new Error('no matches: benchmark is broken');
  return ns / LOOKUPS_PER_RUN;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const results = [];
for (const size of SIZES) {
  const built = buildModel(size);
  const t0 = process.hrtime.bigint();
  const table = RouteTable.build(built.model);
  const buildMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const row = { routes: built.count, hosts: built.hosts, buildMs: round(buildMs) };
  // spread: lookups over every tenant and big-host route (realistic; CPU caches miss more as the
  // table grows). hot: the same mix on one tenant, isolating the algorithm from cache effects.
  for (const mode of ['spread', 'hot']) {
    const { hosts, paths } = lookupMix(built, mode === 'hot');
    measure(table, hosts, paths); // warm-up: let the JIT settle
    const samples = [];
    for (let r = 0; r < RUNS; r++) samples.push(measure(table, hosts, paths));
    row[mode] = { median: round(median(samples)), min: round(Math.min(...samples)), max: round(Math.max(...samples)) };
  }
  results.push(row);
}

function round(x) {
  return Math.round(x * 10) / 10;
}

console.log(`RouteTable.lookup, ${LOOKUPS_PER_RUN.toLocaleString('en')} lookups × ${RUNS} runs (median), node ${process.version}`);
console.table(
  results.map((r) => ({
    routes: r.routes,
    hosts: r.hosts,
    'build ms': r.buildMs,
    'spread ns/lookup': r.spread.median,
    'spread min-max': `${r.spread.min}-${r.spread.max}`,
    'hot ns/lookup': r.hot.median,
    'hot min-max': `${r.hot.min}-${r.hot.max}`,
  })),
);
const ratio = (mode) => results.at(-1)[mode].median / results[0][mode].median;
const flat = { spread: Math.round(ratio('spread') * 100) / 100, hot: Math.round(ratio('hot') * 100) / 100 };
console.log(`largest/smallest median ratio: spread ${ratio('spread').toFixed(2)}, hot ${ratio('hot').toFixed(2)}`);

const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'results', 'route-table.json');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(
  out,
  `${JSON.stringify({ benchmark: 'route-table.lookup', node: process.version, date: new Date().toISOString(), runs: RUNS, lookupsPerRun: LOOKUPS_PER_RUN, results, largestToSmallestRatio: flat }, null, 2)}\n`,
);
console.log(`wrote ${out}`);
