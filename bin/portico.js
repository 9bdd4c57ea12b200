#!/usr/bin/env node
// Launcher for the compiled CLI in dist/ (built by `npm install` through the prepare script).
// Portico needs Node.js 24 (@kubernetes/client-node 2.x crashes at import on Node 20). npm scripts and
// npx already run it on the project's Node 24 (the `node` package); when an older `node` starts this
// file directly, re-run it on that Node 24 binary, or say what is missing.
import { spawnSync } from 'node:child_process';
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
  const result = spawnSync(node24, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(result.status ?? (result.signal ? 128 : 1));
}
