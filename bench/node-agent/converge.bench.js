// Route programming by `portico node-agent` against the kernel, in a throwaway network namespace:
// for 100 and 1,000 nodes in host-gw and vxlan mode, the time from the agent's start to every
// route, neighbour and FDB entry in place (converge from nothing), and the time from a manifest
// with one more Node being written to its route being applied (one node added). The agent is the
// real CLI (`portico node-agent --manifests DIR`); times come from its own log lines (pino `time`)
// and the kernel is checked afterwards (`ip route show proto 80` counts).
//
//   sudo npm run bench:node-agent              (BENCH_RUNS=5 rounds per case by default)
//
// Needs root and iproute2, nftables. Creates a namespace pna-bench-<random> and removes it, also on
// failure. Writes bench/results/node-agent.json.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const PORTICO = join(REPO, 'dist', 'cmd', 'portico.js');
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const ADDS = 5;
const NETNS = `pna-bench-${randomBytes(3).toString('hex')}`;

function sh(command, args, input) {
  const result = spawnSync(command, args, { encoding: 'utf8', input });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')}: ${result.stderr || result.status}`);
  return result.stdout;
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const round = (ms) => Math.round(ms * 10) / 10;

/** Node i: address 10.250.<i/250>.<i%250+1>, pod CIDR 10.<128 + i/256>.<i%256>.0/24. */
function nodeObject(i) {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: `node-${i}` },
    spec: { podCIDR: `10.${128 + (i >> 8)}.${i & 255}.0/24` },
    status: { addresses: [{ type: 'InternalIP', address: `10.250.${Math.floor(i / 250)}.${(i % 250) + 1}` }] },
  };
}

function writeNodes(dir, file, from, to) {
  const items = [];
  for (let i = from; i < to; i++) items.push(nodeObject(i));
  writeFileSync(join(dir, `.${file}.tmp`), `${JSON.stringify({ apiVersion: 'v1', kind: 'List', items })}\n`);
  renameSync(join(dir, `.${file}.tmp`), join(dir, file));
}

function agentRoutes() {
  return JSON.parse(sh('ip', ['-n', NETNS, '-j', 'route', 'show', 'proto', '80'])).length;
}

/** Starts the agent; resolves a handle that yields its parsed log lines as they arrive. */
function startAgent(args) {
  const child = spawn('ip', ['netns', 'exec', NETNS, process.execPath, PORTICO, 'node-agent', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = [];
  const waiters = [];
  let buffer = '';
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  child.stdout.on('data', (chunk) => {
    buffer += chunk;
    let nl;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const text = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (!text.startsWith('{')) continue;
      const line = JSON.parse(text);
      line.time = Date.parse(line.time); // ISO text in Portico's logs
      lines.push(line);
      for (const w of [...waiters]) if (w.predicate(line)) waiters.splice(waiters.indexOf(w), 1) && w.resolve(line);
    }
  });
  const exited = new Promise((resolve) => child.on('close', resolve));
  return {
    child,
    waitFor(predicate, timeoutMs = 20_000) {
      const found = lines.find(predicate);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`agent: no matching log line in ${timeoutMs} ms; stderr: ${stderr}`)), timeoutMs);
        waiters.push({ predicate, resolve: (line) => (clearTimeout(timer), resolve(line)) });
      });
    },
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

const applied = (count) => (line) => typeof line.msg === 'string' && /change\(s\) applied/.test(line.msg) && line.failed === 0 && line.changes.length >= count;

async function runCase(nodes, mode) {
  const converge = [];
  const converge_pass = [];
  const added = [];
  for (let run = 0; run < RUNS; run++) {
    const dir = mkdtempSync(join(tmpdir(), 'pna-bench-'));
    const confDir = join(dir, 'cni');
    mkdirSync(join(dir, 'm'));
    writeNodes(join(dir, 'm'), '00-nodes.json', 0, nodes);
    const started = Date.now();
    const agent = startAgent(['--manifests', join(dir, 'm'), '--node-name', 'node-0', '--mode', mode, '--iface', 'eth0', '--cluster-cidr', '10.128.0.0/9', '--cni-conf-dir', confDir, '--sync-period', '60s']);
    try {
      const startLine = await agent.waitFor((line) => /portico node-agent on node/.test(line.msg ?? ''));
      const perNode = mode === 'vxlan' ? 3 : 1;
      const first = await agent.waitFor(applied((nodes - 1) * perNode));
      converge.push(first.time - started);
      converge_pass.push(first.time - startLine.time);
      if (agentRoutes() !== nodes - 1) throw new Error(`expected ${nodes - 1} routes, the kernel has ${agentRoutes()}`);
      for (let a = 0; a < ADDS && run === 0; a++) {
        const written = Date.now();
        writeNodes(join(dir, 'm'), `10-added-${a}.json`, nodes + a, nodes + a + 1);
        const line = await agent.waitFor((l) => applied(perNode)(l) && l.time >= written && l.changes.some((c) => c.includes(`10.${128 + ((nodes + a) >> 8)}.${(nodes + a) & 255}.0/24`)));
        added.push(line.time - written);
      }
    } finally {
      await agent.stop();
      sh('ip', ['netns', 'exec', NETNS, process.execPath, PORTICO, 'node-agent', '--cleanup', '--cni-conf-dir', confDir]);
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return {
    nodes,
    mode,
    runs: RUNS,
    convergeFromStartMs: { median: round(median(converge)), min: round(Math.min(...converge)), max: round(Math.max(...converge)) },
    convergeAfterStartupMs: { median: round(median(converge_pass)), min: round(Math.min(...converge_pass)), max: round(Math.max(...converge_pass)) },
    oneNodeAddedMs: { median: round(median(added)), min: round(Math.min(...added)), max: round(Math.max(...added)), samples: added.length },
  };
}

async function main() {
  if (process.getuid?.() !== 0) throw new Error('needs root (network namespaces, routes, nft)');
  sh('ip', ['netns', 'add', NETNS]);
  try {
    sh('ip', ['-n', NETNS, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth1']);
    sh('ip', ['-n', NETNS, 'addr', 'add', '10.250.0.1/16', 'dev', 'eth0']);
    for (const dev of ['eth0', 'eth1', 'lo']) sh('ip', ['-n', NETNS, 'link', 'set', dev, 'up']);
    const results = [];
    for (const nodes of [100, 1000]) {
      for (const mode of ['host-gw', 'vxlan']) {
        const result = await runCase(nodes, mode);
        results.push(result);
        console.log(
          `${String(nodes).padStart(5)} nodes ${mode.padEnd(7)}: converge ${result.convergeFromStartMs.median} ms from process start (${result.convergeAfterStartupMs.median} ms after the agent is up), one node added ${result.oneNodeAddedMs.median} ms (median of ${result.oneNodeAddedMs.samples})`,
        );
      }
    }
    const out = { node: process.version, date: new Date().toISOString(), results };
    mkdirSync(join(REPO, 'bench', 'results'), { recursive: true });
    writeFileSync(join(REPO, 'bench', 'results', 'node-agent.json'), `${JSON.stringify(out, null, 2)}\n`);
  } finally {
    spawnSync('ip', ['netns', 'del', NETNS]);
  }
}

await main();
