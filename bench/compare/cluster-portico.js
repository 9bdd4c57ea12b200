// Bench-only multi-process Portico, to decide whether a worker mode pays (issue item 4): node:cluster
// forks PORTICO_WORKERS copies of the real CLI (`portico controller …`, same arguments), which share
// the listening sockets (the primary accepts and hands connections out round-robin, Node's default
// on Linux). Each worker loads and compiles the configuration itself; a real worker mode would build
// it once in the primary and broadcast it, which changes start-up and rebuild cost, not the per-request
// data path this measures.
//
//   PORTICO_WORKERS=2 node bench/compare/cluster-portico.js controller --manifests DIR …
import cluster from 'node:cluster';

const workers = Number(process.env.PORTICO_WORKERS ?? 2);
if (cluster.isPrimary) {
  for (let i = 0; i < workers; i++) cluster.fork();
  let stopping = false;
  const stop = () => {
    stopping = true;
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  cluster.on('exit', () => {
    if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(stopping ? 0 : 1);
  });
} else {
  // The worker runs the CLI with the primary's arguments (process.argv is inherited).
  await import('../../dist/cmd/portico.js');
}
