#!/usr/bin/env node
// Launcher for the compiled CLI in dist/ (built by `npm install` through the prepare script).
// Portico needs Node.js 24 (@kubernetes/client-node 2.x and undici 8 crash at import on Node 20). npm
// scripts and npx already run it on the project's Node 24 (the `node` package); when an older `node`
// starts this file directly, run it again on that Node 24 binary, or say what is missing.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const major = Number(process.versions.node.split('.')[0]);
if (major >= 24) {
  await import('../dist/cmd/portico.js');
} else {
  let node24;
  try {
    node24 = createRequire(import.meta.url).resolve('node/bin/node');
  } catch {
    process.stderr.write(`portico needs Node.js 24 or newer; this is ${process.version}. Install Node.js 24, or run \`npm install\` in the portico package (it brings Node 24 as the \`node\` package).\n`);
    process.exit(1);
  }
  // The child gets its own process group, so a terminal's Ctrl-C reaches it once (forwarded from
  // here) and not twice (a second SIGINT means "stop now, don't drain"). Whoever signals this
  // launcher signals the child: a supervisor's SIGTERM must never leave Node 24 running with the ports.
  const child = spawn(node24, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit', detached: true });
  const FORWARDED = ['SIGTERM', 'SIGINT', 'SIGHUP'];
  const forward = (signal) => child.kill(signal);
  for (const signal of FORWARDED) process.on(signal, forward);
  child.on('error', (error) => {
    process.stderr.write(`portico: cannot start ${node24}: ${error.message}\n`);
    process.exit(1);
  });
  child.on('exit', (code, signal) => {
    if (code !== null) process.exit(code);
    // Died of a signal: die of the same one, so the caller sees what the child saw.
    for (const name of FORWARDED) process.off(name, forward);
    process.kill(process.pid, signal);
  });
}
