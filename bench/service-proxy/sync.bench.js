// portico service-proxy sync cost against the real kernel: full sync of N Services × 10 endpoints
// (N = 1,000 and 10,000), a second full sync over the existing table (the periodic resync), and a
// partial sync after one Service's endpoints change (same count: map elements only), one after a
// Service scales (its dispatch rule changes), with RSS after each size. kube-proxy's nftables
// mode is the anchor: targets full sync of 1k < 1 s, partial < 50 ms at 10k Services.
//
//   sudo npm run bench:service-proxy            (BENCH_SIZES=1000,10000 BENCH_RUNS=7)
//
// Needs root and nftables. Runs itself inside a throwaway network namespace (psp-bench-<random>),
// deleted at the end, also on failure; the host's ruleset is never touched.
// Writes bench/results/service-proxy-sync.json.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SIZES = (process.env.BENCH_SIZES ?? '1000,10000').split(',').map(Number);
const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const ENDPOINTS = 10;

const median = (values) => {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

if (process.argv[2] !== '--inside') {
  if (process.getuid?.() !== 0) {
    console.error('bench/service-proxy: skipped, needs root (network namespaces, nftables): sudo npm run bench:service-proxy');
    process.exit(0);
  }
  const ns = `psp-bench-${randomBytes(3).toString('hex')}`;
  spawnSync('ip', ['netns', 'add', ns], { stdio: 'inherit' });
  try {
    const result = spawnSync('ip', ['netns', 'exec', ns, process.execPath, '--expose-gc', fileURLToPath(import.meta.url), '--inside'], { stdio: 'inherit' });
    process.exitCode = result.status ?? 1;
  } finally {
    spawnSync('ip', ['netns', 'del', ns]);
  }
} else {
  const { ServiceProxier } = await import(join(REPO, 'dist/service-proxy/proxier.js'));
  const { ObjectStore } = await import(join(REPO, 'dist/store/object-store.js'));
  const { SessionNft } = await import(join(REPO, 'dist/nft/session-nft.js'));
  const { ExecCommandRunner } = await import(join(REPO, 'dist/lib/run-command.js'));
  const { createSilentLogger } = await import(join(REPO, 'dist/lib/logger.js'));
  const { parseCidr } = await import(join(REPO, 'dist/lib/cidr.js'));
  const { Transaction } = await import(join(REPO, 'dist/nft/transaction.js'));

  // As `portico service-proxy` runs it: partial syncs through one `nft -i`, full syncs one-shot.
  const nft = new SessionNft({ runner: new ExecCommandRunner(), timeoutMs: 900_000 });
  const ip = (i, base) => `${base}.${(i >> 8) & 255}.${i & 255}`;
  const service = (i) => ({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: `svc-${i}`, namespace: `ns-${i % 50}` },
    spec: { type: i % 4 === 0 ? 'NodePort' : 'ClusterIP', clusterIP: ip(i, '10.96'), ports: [{ name: 'http', port: 80, protocol: 'TCP', ...(i % 4 === 0 && { nodePort: 30000 + i / 4 }) }] },
  });
  const slice = (i, generation, count = ENDPOINTS) => ({
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `svc-${i}-abc`, namespace: `ns-${i % 50}`, labels: { 'kubernetes.io/service-name': `svc-${i}` } },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    endpoints: Array.from({ length: count }, (_, e) => ({ addresses: [ip(i * ENDPOINTS + e + generation, '10.0')], nodeName: e % 2 ? 'node-a' : 'node-b' })),
  });

  const results = [];
  for (const size of SIZES) {
    // NodePorts must be unique: only the first 2,700 NodePort Services get one.
    const store = new ObjectStore();
    for (let i = 0; i < size; i++) {
      const s = service(i);
      if (s.spec.type === 'NodePort' && i >= 4 * 2700) { s.spec.type = 'ClusterIP'; delete s.spec.ports[0].nodePort; }
      store.upsert(s);
      store.upsert(slice(i, 0));
    }
    const counts = [];
    const proxier = new ServiceProxier({
      store, nft, logger: createSilentLogger(), nodeName: 'node-a', families: [4],
      clusterCIDRs: [parseCidr('10.0.0.0/16')], minSyncPeriodMs: 0, syncPeriodMs: 3_600_000,
      observer: { synced: (r) => counts.push(r), syncFailed: (e) => { throw e; } },
    });
    proxier.start();
    proxier.markSynced();
    const first = performance.now();
    await proxier.syncNow();
    const fullFirstMs = performance.now() - first;
    const partial = [];
    for (let r = 1; r <= RUNS; r++) {
      store.upsert(slice(r * 7 % size, r)); // one Service's endpoints all change
      const t = performance.now();
      await proxier.syncNow();
      partial.push(performance.now() - t);
    }
    // One Service scales (10 → 9 → 10 endpoints): its dispatch rule changes, not only map elements.
    const scale = [];
    for (let r = 1; r <= RUNS; r++) {
      store.upsert(slice((Math.ceil(r / 2) * 11 + 3) % size, 0, r % 2 ? ENDPOINTS - 1 : ENDPOINTS)); // 9, then 10 again
      const t = performance.now();
      await proxier.syncNow();
      scale.push(performance.now() - t);
    }
    const resync = [];
    for (let r = 0; r < (size > 2000 ? 1 : Math.min(RUNS, 3)); r++) {
      const t = performance.now();
      await proxier.syncNow({ full: true });
      resync.push(performance.now() - t);
    }
    globalThis.gc?.();
    const rssMb = process.memoryUsage().rss / 2 ** 20;
    const last = counts.at(-1);
    results.push({
      services: size, endpointsPerService: ENDPOINTS, rules: last.rules, elements: last.elements,
      fullSyncFirstMs: Math.round(fullFirstMs), fullResyncMedianMs: Math.round(median(resync)),
      partialSyncMedianMs: Number(median(partial).toFixed(1)), partialSyncMaxMs: Number(Math.max(...partial).toFixed(1)),
      scaleSyncMedianMs: Number(median(scale).toFixed(1)), scaleSyncMaxMs: Number(Math.max(...scale).toFixed(1)),
       rssMb: Math.round(rssMb),
    });
    console.log(
      `${String(size).padStart(6)} services × ${ENDPOINTS}: ${last.rules} rules, ${last.elements} elements | full (empty table) ${Math.round(fullFirstMs)} ms | full resync ${Math.round(median(resync))} ms | partial ${median(partial).toFixed(1)} ms median (max ${Math.max(...partial).toFixed(1)}) | scale one Service ${median(scale).toFixed(1)} ms median (max ${Math.max(...scale).toFixed(1)}) | RSS ${Math.round(rssMb)} MB`,
    );
    await proxier.stop();
    await nft.run(new Transaction({ family: 'ip', name: 'portico-proxy' }).deleteTable());
  }
  nft.close();
  const out = join(REPO, 'bench', 'results', 'service-proxy-sync.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), node: process.version, nft: spawnSync('nft', ['--version'], { encoding: 'utf8' }).stdout.trim(), results }, null, 2) + '\n');
  console.log(`wrote ${out}`);
}
