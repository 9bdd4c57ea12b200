// The CLI's first import, so it runs before any other module is evaluated: on an older Node,
// undici and @kubernetes/client-node crash at import with a stack trace that names neither Portico
// nor the Node version. bin/portico.js says the same (and re-runs on the bundled Node 24).
const REQUIRED_NODE_MAJOR = 24;

const major = Number(process.versions.node.split('.')[0]);
if (major < REQUIRED_NODE_MAJOR) {
  process.stderr.write(
    `portico needs Node.js ${REQUIRED_NODE_MAJOR} or newer; this is ${process.version}. Run it as \`npx portico\` or \`bin/portico.js\` (they use the Node ${REQUIRED_NODE_MAJOR} that \`npm install\` brings as the \`node\` package), or install Node.js ${REQUIRED_NODE_MAJOR}.\n`,
  );
  process.exit(1);
}

export {};
