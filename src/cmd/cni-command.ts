import { readFile } from 'node:fs/promises';
import { request } from 'node:https';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { installConflist, installPlugin, renderConflist } from '../cni/install.js';
import { parseCidr } from '../lib/cidr.js';
import { PorticoError } from '../lib/errors.js';
import { runCniPlugin } from './cni-plugin.js';
import { parseFlags, type FlagSpec } from './flags.js';

// `portico cni`: with no arguments, the CNI plugin itself (CNI_* environment, config on stdin).
// `portico cni install`: installs the self-contained `portico-cni` into a CNI bin directory and,
// optionally, a conflist into the CNI config directory (what the DaemonSet in deploy/cni runs).

export const CNI_FLAGS = {
  'bin-dir': { type: 'string', default: '/opt/cni/bin', description: 'install: CNI plugin directory to install portico-cni into' },
  'conf-dir': { type: 'string', description: 'install: also write the conflist into this directory (e.g. /etc/cni/net.d)' },
  conflist: { type: 'string', description: 'install: conflist template; {{podCIDR}} is replaced by the node pod CIDR' },
  'pod-cidr': { type: 'string', description: "install: this node's pod CIDR, e.g. 10.244.1.0/24" },
  'pod-cidr-from-node': { type: 'string', description: "install: read the pod CIDR from this Node's spec.podCIDR (in-cluster API access)" },
  wait: { type: 'boolean', description: 'install: then keep running until SIGTERM (a DaemonSet container)' },
} satisfies Record<string, FlagSpec>;

const MIN_NODE_MAJOR = 24;
const SERVICE_ACCOUNT = '/var/run/secrets/kubernetes.io/serviceaccount';

interface Closable {
  close(): Promise<void>;
}

/** GET /api/v1/nodes/NAME with the pod's service account; returns spec.podCIDR. */
async function podCidrFromNode(node: string): Promise<string> {
  const host = process.env['KUBERNETES_SERVICE_HOST'];
  const port = process.env['KUBERNETES_SERVICE_PORT'] ?? '443';
  if (!host) throw new PorticoError('PORTICO_ERR_CNI_INSTALL', '--pod-cidr-from-node needs in-cluster API access (KUBERNETES_SERVICE_HOST is not set)');
  const [token, ca] = await Promise.all([readFile(`${SERVICE_ACCOUNT}/token`, 'utf8'), readFile(`${SERVICE_ACCOUNT}/ca.crt`)]);
  const body = await new Promise<string>((resolve, reject) => {
    const req = request(
      { host, port, path: `/api/v1/nodes/${encodeURIComponent(node)}`, ca, headers: { authorization: `Bearer ${token.trim()}`, accept: 'application/json' }, timeout: 10_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks).toString('utf8')) : reject(new Error(`GET node ${node}: HTTP ${res.statusCode}`))));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET node ${node}: timed out`)));
    req.on('error', reject);
    req.end();
  }).catch((error: Error) => {
    throw new PorticoError('PORTICO_ERR_CNI_INSTALL', error.message);
  });
  const cidr = (JSON.parse(body) as { spec?: { podCIDR?: string } }).spec?.podCIDR;
  if (!cidr) throw new PorticoError('PORTICO_ERR_CNI_INSTALL', `Node ${node} has no spec.podCIDR (is kube-controller-manager running with --allocate-node-cidrs?)`);
  return cidr;
}

async function runInstall(argv: readonly string[]): Promise<Closable> {
  const flags = parseFlags(argv, CNI_FLAGS);
  const major = Number(process.versions.node.split('.')[0]);
  if (major < MIN_NODE_MAJOR) {
    throw new PorticoError('PORTICO_ERR_CNI_INSTALL', `portico cni install copies the Node.js that runs it, which must be ${MIN_NODE_MAJOR} or later (this is ${process.version}); run it through npm/npx`);
  }
  const log = (message: string) => process.stderr.write(`portico cni install: ${message}\n`);
  const result = await installPlugin({
    binDir: flags['bin-dir']!,
    appDir: fileURLToPath(new URL('..', import.meta.url)),
    nodeBinary: process.execPath,
    nodeVersion: process.version,
    log,
  });
  if (flags.conflist !== undefined) {
    if (flags['conf-dir'] === undefined) throw new PorticoError('PORTICO_ERR_CLI_FLAG', '--conflist needs --conf-dir');
    let podCidr = flags['pod-cidr'];
    if (podCidr === undefined && flags['pod-cidr-from-node'] !== undefined) podCidr = await podCidrFromNode(flags['pod-cidr-from-node']);
    if (podCidr !== undefined && !parseCidr(podCidr)) throw new PorticoError('PORTICO_ERR_CLI_FLAG', `--pod-cidr must be a CIDR, got ${JSON.stringify(podCidr)}`);
    const template = await readFile(flags.conflist, 'utf8').catch((error: Error) => {
      throw new PorticoError('PORTICO_ERR_CNI_INSTALL', `cannot read --conflist ${flags.conflist}: ${error.message}`);
    });
    const content = renderConflist(template, podCidr !== undefined ? { podCidr } : {});
    await installConflist({ confDir: flags['conf-dir'], fileName: basename(flags.conflist), content, log });
  }
  process.stdout.write(`${result.launcher}\n`);
  if (!flags.wait) return { close: async () => {} };
  log('installed; waiting for SIGTERM');
  const timer = setInterval(() => {}, 1 << 30);
  return {
    close: async () => clearInterval(timer),
  };
}

export async function runCniCommand(argv: readonly string[]): Promise<Closable> {
  if (argv[0] === 'install') return runInstall(argv.slice(1));
  if (argv.length > 0) throw new PorticoError('PORTICO_ERR_CLI_FLAG', `unknown argument ${JSON.stringify(argv[0])}: use "portico cni" (the plugin, driven by CNI_* variables) or "portico cni install"`);
  process.exitCode = await runCniPlugin(process.env);
  return { close: async () => {} };
}
