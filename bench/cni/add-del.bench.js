// ADD+DEL latency of the installed portico-cni beside the reference bridge + host-local
// (/usr/lib/cni, Debian containernetworking-plugins) on the same machine, in one run: the same
// configuration (gateway bridge, default route, ipMasq, hairpin, host-local), each invocation a
// fresh process started the way runtimes start plugins (empty environment + CNI_* + system PATH),
// alternating between the two plugins so machine noise hits both alike. Also the start-up time
// of each executable (VERSION) and of a bare `node -e 0`.
//
//   sudo npm run bench:cni                      (BENCH_RUNS=60 for more runs)
//
// Needs root, iproute2, nftables, util-linux and containernetworking-plugins. Creates network
// namespaces named pcni-bench-<random>-* and deletes them, also on failure.
// Writes bench/results/cni-add-del.json.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const RUNS = Number(process.env.BENCH_RUNS ?? 40);
const WARMUP = 3;
const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const REFERENCE = '/usr/lib/cni/bridge';

function sh(command, args, options = {}) {
  const result = spawnSync(command, args, { encoding: 'utf8', ...options });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')}: ${result.stderr || result.status}`);
  return result.stdout;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

const round = (ms) => Math.round(ms * 10) / 10;

/** Runs one plugin invocation; resolves with its wall time in ms. */
function invoke(plugin, env, input) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(plugin, [], { env: { PATH: SYSTEM_PATH, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', () => {});
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = performance.now() - started;
      if (code !== 0) reject(new Error(`${plugin} ${env.CNI_COMMAND} failed: ${out}`));
      else resolve(ms);
    });
    child.stdin.end(input);
  });
}

/** Inside the node namespace: the measurements. */
async function inner() {
  const { ours, pod, dataDir, id } = JSON.parse(process.env.PCNI_BENCH);
  const plugins = {
    'portico-cni': { path: ours, cniPath: dirname(ours), type: 'portico-cni', bridge: `pcnib${id}`.slice(0, 15) },
    reference: { path: REFERENCE, cniPath: '/usr/lib/cni', type: 'bridge', bridge: `pcnir${id}`.slice(0, 15) },
  };
  const times = {};
  for (const [name, p] of Object.entries(plugins)) {
    times[name] = { add: [], del: [], total: [], version: [] };
    p.config = JSON.stringify({
      cniVersion: '1.0.0',
      name: `bench-${name}`,
      type: p.type,
      bridge: p.bridge,
      isGateway: true,
      isDefaultGateway: true,
      ipMasq: true,
      hairpinMode: true,
      ipam: { type: 'host-local', dataDir, ranges: [[{ subnet: name === 'reference' ? '10.81.0.0/16' : '10.80.0.0/16' }]] },
    });
  }
  const order = Object.keys(plugins);
  for (let i = -WARMUP; i < RUNS; i++) {
    for (const name of i % 2 === 0 ? order : [...order].reverse()) {
      const p = plugins[name];
      const env = { CNI_CONTAINERID: `bench-${name}-${i + WARMUP}`, CNI_NETNS: pod, CNI_IFNAME: 'eth0', CNI_PATH: p.cniPath };
      const add = await invoke(p.path, { ...env, CNI_COMMAND: 'ADD' }, p.config);
      const del = await invoke(p.path, { ...env, CNI_COMMAND: 'DEL' }, p.config);
      const version = await invoke(p.path, { CNI_COMMAND: 'VERSION' }, '');
      if (i < 0) continue;
      times[name].add.push(add);
      times[name].del.push(del);
      times[name].total.push(add + del);
      times[name].version.push(version);
    }
  }
  const bare = [];
  for (let i = 0; i < RUNS; i++) {
    const started = performance.now();
    spawnSync(process.execPath, ['-e', '0']);
    bare.push(performance.now() - started);
  }
  const summary = {};
  for (const [name, t] of Object.entries(times)) {
    summary[name] = {
      addMedianMs: round(median(t.add)),
      delMedianMs: round(median(t.del)),
      addDelMedianMs: round(median(t.total)),
      addDelP90Ms: round(percentile(t.total, 90)),
      startupMedianMs: round(median(t.version)),
    };
  }
  summary['node -e 0'] = { startupMedianMs: round(median(bare)) };
  process.stdout.write(JSON.stringify(summary));
}

async function outer() {
  if (process.getuid?.() !== 0) throw new Error('needs root (network namespaces)');
  if (!existsSync(REFERENCE)) throw new Error(`${REFERENCE} is missing: apt-get install containernetworking-plugins`);
  const id = randomBytes(3).toString('hex');
  const node = `pcni-bench-${id}-node`;
  const pod = `pcni-bench-${id}-pod`;
  const dataDir = mkdtempSync(join(tmpdir(), 'pcni-bench-'));
  const binDir = join(REPO, 'node_modules', '.cache', 'portico-cni-bench', 'bin');
  mkdirSync(binDir, { recursive: true });
  sh(process.execPath, [join(REPO, 'dist', 'cmd', 'portico.js'), 'cni', 'install', '--bin-dir', binDir], { stdio: ['ignore', 'pipe', 'pipe'] });
  const ours = join(binDir, 'portico-cni');
  try {
    sh('ip', ['netns', 'add', node]);
    sh('ip', ['netns', 'add', pod]);
    const env = { ...process.env, PCNI_BENCH: JSON.stringify({ ours, pod: `/run/netns/${pod}`, dataDir, id }) };
    const summary = JSON.parse(sh('ip', ['netns', 'exec', node, process.execPath, fileURLToPath(import.meta.url), '--inner'], { env, maxBuffer: 1 << 24 }));
    const result = {
      benchmark: 'cni ADD+DEL latency, portico-cni vs reference bridge+host-local',
      date: new Date().toISOString(),
      runs: RUNS,
      node: process.version,
      reference: `containernetworking-plugins ${spawnSync('dpkg-query', ['-W', '-f=${Version}', 'containernetworking-plugins'], { encoding: 'utf8' }).stdout || 'unknown'}`,
      load: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '),
      cpus: spawnSync('nproc', { encoding: 'utf8' }).stdout.trim(),
      config: 'cniVersion 1.0.0, isGateway+isDefaultGateway, ipMasq, hairpinMode, host-local /16',
      results: summary,
    };
    mkdirSync(join(REPO, 'bench', 'results'), { recursive: true });
    writeFileSync(join(REPO, 'bench', 'results', 'cni-add-del.json'), `${JSON.stringify(result, null, 2)}\n`);
    console.table(summary);
  } finally {
    spawnSync('ip', ['netns', 'del', pod]);
    spawnSync('ip', ['netns', 'del', node]);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

if (process.argv.includes('--inner')) await inner();
else await outer();
