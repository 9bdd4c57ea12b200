// LoadBalancer IP failover with `portico node-agent`: three node namespaces and a client on an
// underlay bridge (all in namespaces, nothing on the host), the agent running in each node from a
// manifest directory holding the Nodes and one LoadBalancer Service. Each node runs a TCP server
// on port 80 that answers its node name, so a connection to the LB IP tells which node holds it.
// The client opens a new connection every 20 ms; failover time = the owner's agent stopped
// (SIGKILL, or SIGTERM) → the first answer from another node. Rounds alternate the two signals.
//
//   sudo npm run bench:node-agent                   (after converge.bench.js; BENCH_ROUNDS=3 per signal)
//
// Needs root, iproute2, nftables, iputils-arping. Namespaces pna-fo-<random>-*, removed at the end.
// Writes bench/results/node-agent-failover.json.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const PORTICO = join(REPO, 'dist', 'cmd', 'portico.js');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const ID = randomBytes(2).toString('hex');
const NS = (suffix) => `pna-fo-${ID}-${suffix}`;
const LB = '10.31.0.200';
const created = [];
const children = new Set();

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

function netns(suffix) {
  const name = NS(suffix);
  sh('ip', ['netns', 'add', name]);
  created.push(name);
  return name;
}

let logDir = '';
function background(ns, argv, options = {}) {
  // Output goes to a file unless read here: a full pipe nobody drains would stall the writer.
  const out = options.pipe ? 'pipe' : openSync(join(logDir, `${ns}.log`), 'a');
  const child = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', out, options.pipe ? 'ignore' : out] });
  children.add(child);
  child.on('close', () => children.delete(child));
  return child;
}

const SERVER = `require('node:net').createServer((s) => s.end(process.argv[1])).listen(80, '0.0.0.0');`;
const PROBE = `
const net = require('node:net');
setInterval(() => {
  const started = Date.now();
  const s = net.connect({ host: process.argv[1], port: 80, timeout: 200 });
  let data = '';
  s.on('data', (c) => (data += c));
  s.on('end', () => process.stdout.write(JSON.stringify({ t: started, node: data }) + '\\n'));
  s.on('error', () => {});
  s.on('timeout', () => s.destroy());
}, 20);`;

async function main() {
  if (process.getuid?.() !== 0) throw new Error('needs root');
  const dir = mkdtempSync(join(tmpdir(), 'pna-fo-'));
  logDir = dir;
  try {
    const underlay = netns('ul');
    sh('ip', ['-n', underlay, 'link', 'add', 'br0', 'type', 'bridge']);
    sh('ip', ['-n', underlay, 'link', 'set', 'br0', 'up']);
    const attach = (ns, port, address) => {
      sh('ip', ['-n', underlay, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      sh('ip', ['-n', underlay, 'link', 'set', port, 'master', 'br0', 'up']);
      sh('ip', ['-n', ns, 'addr', 'add', `${address}/24`, 'dev', 'eth0']);
      sh('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
      sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    };
    const client = netns('client');
    attach(client, 'client', '10.31.0.5');
    const nodes = [1, 2, 3].map((n) => ({ name: `node-${n}`, ns: netns(`node${n}`), ip: `10.31.0.${10 + n}`, podCIDR: `10.244.${n}.0/24` }));
    for (const node of nodes) {
      attach(node.ns, `n${node.name.slice(5)}`, node.ip);
      background(node.ns, [process.execPath, '-e', SERVER, node.name]);
    }
    const manifests = join(dir, 'm');
    mkdirSync(manifests);
    const items = [
      ...nodes.map((n) => ({ apiVersion: 'v1', kind: 'Node', metadata: { name: n.name }, spec: { podCIDR: n.podCIDR }, status: { addresses: [{ type: 'InternalIP', address: n.ip }] } })),
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'front', namespace: 'default' }, spec: { type: 'LoadBalancer', clusterIP: '10.96.0.50', ports: [{ port: 80 }] }, status: { loadBalancer: { ingress: [{ ip: LB }] } } },
    ];
    writeFileSync(join(manifests, 'all.json'), `${JSON.stringify({ apiVersion: 'v1', kind: 'List', items })}\n`);
    writeFileSync(join(dir, 'key'), `${randomBytes(32).toString('hex')}\n`);
    const agents = new Map();
    const startAgent = (node) =>
      agents.set(
        node.name,
        background(node.ns, [process.execPath, PORTICO, 'node-agent', '--manifests', manifests, '--node-name', node.name, '--cluster-cidr', '10.244.0.0/16', '--iface', 'eth0', '--cni-conf-dir', join(dir, `cni-${node.name}`), '--heartbeat-secret-file', join(dir, 'key')]),
      );
    for (const node of nodes) startAgent(node);
    const probe = background(client, [process.execPath, '-e', PROBE, LB], { pipe: true });
    const answers = [];
    let buffer = '';
    probe.stdout.on('data', (chunk) => {
      buffer += chunk;
      let nl;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        answers.push(JSON.parse(buffer.slice(0, nl)));
        buffer = buffer.slice(nl + 1);
      }
    });
    const waitFor = async (predicate, timeoutMs, what) => {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const found = answers.find(predicate);
        if (found) return found;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      const logs = nodes.map((n) => `--- ${n.name}\n${readFileSync(join(dir, `${n.ns}.log`), 'utf8').split('\n').slice(-8).join('\n')}`).join('\n');
      throw new Error(`timed out waiting for ${what}; last answers ${JSON.stringify(answers.slice(-3))}\n${logs}`);
    };
    const results = [];
    for (let round = 0; round < ROUNDS * 2; round++) {
      const signal = round % 2 === 0 ? 'SIGKILL' : 'SIGTERM';
      // Steady state: every answer of the last 2 s from one node, after a restarted agent settled (3 s).
      await new Promise((resolve) => setTimeout(resolve, 4000));
      for (let waited = 0; ; waited += 100) {
        const recent = answers.filter((a) => a.t > Date.now() - 2000 && a.node !== '');
        if (recent.length > 20 && recent.every((a) => a.node === recent[0].node)) break;
        if (waited > 30_000) {
          const counts = {};
          for (const a of recent) counts[a.node] = (counts[a.node] ?? 0) + 1;
          const logs = nodes.map((n) => `--- ${n.name}\n${readFileSync(join(dir, `${n.ns}.log`), 'utf8').split('\n').filter((l) => /announc|elect|live|dead|leav|takeover|withdr/i.test(l)).slice(-6).join('\n')}`).join('\n');
          throw new Error(`no steady owner of the LoadBalancer IP: answers of the last 2 s ${JSON.stringify(counts)}\n${logs}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const owner = answers[answers.length - 1].node;
      const killedAt = Date.now();
      const agent = agents.get(owner);
      if (signal === 'SIGKILL') {
        // The whole agent: node and its holder child (a container kill would take both too).
        agent.kill('SIGKILL');
      } else agent.kill('SIGTERM');
      const next = await waitFor((a) => a.t >= killedAt && a.node !== owner && a.node !== '', 20_000, `another node after ${signal}`);
      const ms = next.t - killedAt;
      results.push({ signal, from: owner, to: next.node, failoverMs: ms });
      console.log(`${signal.padEnd(7)} ${owner} → ${next.node}: ${ms} ms`);
      await new Promise((resolve) => agent.exitCode !== null || agent.signalCode !== null ? resolve() : agent.once('close', resolve));
      startAgent(nodes.find((n) => n.name === owner));
    }
    const by = (signal) => results.filter((r) => r.signal === signal).map((r) => r.failoverMs);
    const summary = { SIGKILL: { medianMs: median(by('SIGKILL')), maxMs: Math.max(...by('SIGKILL')) }, SIGTERM: { medianMs: median(by('SIGTERM')), maxMs: Math.max(...by('SIGTERM')) } };
    console.log(`failover median: SIGKILL ${summary.SIGKILL.medianMs} ms (max ${summary.SIGKILL.maxMs}), SIGTERM ${summary.SIGTERM.medianMs} ms (max ${summary.SIGTERM.maxMs})`);
    mkdirSync(join(REPO, 'bench', 'results'), { recursive: true });
    writeFileSync(join(REPO, 'bench', 'results', 'node-agent-failover.json'), `${JSON.stringify({ node: process.version, date: new Date().toISOString(), rounds: results, summary }, null, 2)}\n`);
  } finally {
    for (const child of children) child.kill('SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, 200));
    for (const name of created.reverse()) spawnSync('ip', ['netns', 'del', name]);
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
