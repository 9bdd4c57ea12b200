// `portico lab`: how long `lab up` takes for 3 and 10 nodes (goal: 3 nodes < 30 s), and
// requests/s through the front door (LoadBalancer IP → service proxy → controller pod → a backend
// pod on another node) beside the same traffic sent straight to the controller pod from its own
// node. wrk (Debian) is the load generator: 2 threads, 32 keep-alive connections, 10 s per round,
// 3 alternating rounds, medians. On a 2-core box the lab's processes, wrk and the pods all share
// the cores, so these are end-to-end numbers of the whole lab, not of the proxy alone (bench/compare
// is for that).
//
//   sudo npm run bench:lab
//
// Needs root, iproute2, nftables, wrk. Uses lab names bench3 / bench10 on 10.249.3.0/24 and
// 10.249.10.0/24 and removes them, also on failure. Writes bench/results/lab.json.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const PORTICO = join(REPO, 'dist', 'cmd', 'portico.js');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);

function lab(name, args, input) {
  const started = performance.now();
  const result = spawnSync(process.execPath, [PORTICO, 'lab', ...args, '--name', name], { encoding: 'utf8', input });
  if (result.status !== 0) throw new Error(`portico lab ${args.join(' ')}: ${result.stderr}`);
  return { stdout: result.stdout, seconds: (performance.now() - started) / 1000 };
}

const median = (values) => {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

/** wrk in a namespace (or on the host), parsed: requests/s and latency percentiles in ms. */
function wrk(netns, url, host) {
  const args = ['-t2', '-c32', `-d${SECONDS}s`, '--latency', '-H', `Host: ${host}`, url];
  const command = netns ? ['ip', ['netns', 'exec', netns, 'wrk', ...args]] : ['wrk', args];
  const result = spawnSync(command[0], command[1], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`wrk: ${result.stderr}`);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(result.stdout)?.[1]);
  const errors = /Non-2xx or 3xx responses: (\d+)/.exec(result.stdout)?.[1] ?? '0';
  const socketErrors = /Socket errors: (.*)/.exec(result.stdout)?.[1] ?? 'none';
  const unit = (text) => (text.endsWith('ms') ? Number(text.slice(0, -2)) : text.endsWith('us') ? Number(text.slice(0, -2)) / 1000 : Number(text.slice(0, -1)) * 1000);
  const p50 = unit(/50%\s+(\S+)/.exec(result.stdout)?.[1] ?? '0ms');
  const p99 = unit(/99%\s+(\S+)/.exec(result.stdout)?.[1] ?? '0ms');
  return { rps, p50, p99, non2xx: Number(errors), socketErrors };
}

async function main() {
  if (process.getuid?.() !== 0) throw new Error('needs root');
  const results = { node: process.version, date: new Date().toISOString(), up: [], frontDoor: undefined };
  for (const [nodes, name, subnet] of [
    [3, 'bench3', '10.249.3.0/24'],
    [10, 'bench10', '10.249.10.0/24'],
  ]) {
    try {
      const up = lab(name, ['up', '--nodes', String(nodes), '--subnet', subnet]);
      results.up.push({ nodes, seconds: Math.round(up.seconds * 10) / 10 });
      console.log(`lab up, ${nodes} nodes: ${up.seconds.toFixed(1)} s`);
      if (nodes === 3) {
        lab(name, ['apply', '-f', join(REPO, 'deploy', 'lab', 'demo.yaml')]);
        const status = JSON.parse(lab(name, ['status', '-o', 'json']).stdout);
        const lb = status.services.find((s) => s.name === 'portico').loadBalancerIP;
        const controller = status.pods.find((p) => p.deployment === 'portico');
        const controllerNetns = `pl-${name}-${controller.node}`;
        const rounds = { frontDoor: [], direct: [] };
        for (let round = 0; round < ROUNDS; round++) {
          rounds.frontDoor.push(wrk(undefined, `http://${lb}/`, 'web.lab.test'));
          rounds.direct.push(wrk(controllerNetns, `http://${controller.ip}:8080/`, 'web.lab.test'));
        }
        const summarize = (list) => ({ rps: Math.round(median(list.map((r) => r.rps))), p50Ms: median(list.map((r) => r.p50)), p99Ms: median(list.map((r) => r.p99)), non2xx: list.reduce((n, r) => n + r.non2xx, 0), socketErrors: list.map((r) => r.socketErrors) });
        results.frontDoor = { frontDoor: summarize(rounds.frontDoor), directToController: summarize(rounds.direct) };
        console.log(`front door (host → LB IP ${lb}): ${results.frontDoor.frontDoor.rps} req/s, p99 ${results.frontDoor.frontDoor.p99Ms} ms`);
        console.log(`straight to the controller pod (from ${controller.node}): ${results.frontDoor.directToController.rps} req/s, p99 ${results.frontDoor.directToController.p99Ms} ms`);
      }
    } finally {
      spawnSync(process.execPath, [PORTICO, 'lab', 'down', '--name', name], { stdio: 'ignore' });
    }
  }
  mkdirSync(join(REPO, 'bench', 'results'), { recursive: true });
  writeFileSync(join(REPO, 'bench', 'results', 'lab.json'), `${JSON.stringify(results, null, 2)}\n`);
}

await main();
