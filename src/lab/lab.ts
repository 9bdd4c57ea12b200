// `portico lab`: a multi-node cluster in network namespaces on this host, with Portico as its
// front door. The lab is the control plane: it allocates pod CIDRs, ClusterIPs, NodePorts and
// LoadBalancer IPs, runs pods (echo servers, and the controller), and writes Nodes, Services with
// status and EndpointSlices into a manifest directory that every component watches with its own
// --manifests source, exactly as in a cluster. State lives in /run/portico-lab/<name>/.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { installPlugin } from '../cni/install.js';
import { parseCidr, prefixesOverlap } from '../lib/cidr.js';
import { PorticoError } from '../lib/errors.js';
import { acquireFileLock, type FileLock } from '../lib/file-lock.js';
import { ExecCommandRunner } from '../lib/run-command.js';
import { missingTools } from '../host/tools.js';
import type { KubeObject } from '../model/k8s-objects.js';
import { emptyState, renderEndpointSlices, renderNodes, renderServices, scheduleNode, serviceKey, type DeploymentSpec, type LabPod, type LabState } from './control-plane.js';
import { buildLayout, CLUSTER_DOMAIN, DNS_CLUSTER_IP, labStateDir, podNetnsName, POD_NETWORK, type LabLayout, type LabNode } from './layout.js';
import { alive, callCni, httpGetInNetns, must, ownedPids, processesMentioning, run, spawnInNetns, stopProcesses, waitForTcpInNetns } from './lab-os.js';
import { parseLabObjects, type LabObject } from './parse-lab-objects.js';

const DIST = join(dirname(fileURLToPath(import.meta.url)), '..');
const PORTICO = join(DIST, 'cmd', 'portico.js');
const ECHO = join(DIST, 'echo', 'echo-main.js');
const CONTROLLER_NAMESPACE = 'portico';
const CONTROLLER_DEPLOYMENT: DeploymentSpec = {
  namespace: CONTROLLER_NAMESPACE,
  name: 'portico',
  replicas: 1,
  selector: { 'app.kubernetes.io/name': 'portico' },
  labels: { 'app.kubernetes.io/name': 'portico' },
  ports: [
    { port: 8080, name: 'http' },
    { port: 8443, name: 'https' },
  ],
  role: 'controller',
};
const CONTROLLER_SERVICE = {
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { namespace: CONTROLLER_NAMESPACE, name: 'portico' },
  spec: {
    type: 'LoadBalancer',
    selector: { 'app.kubernetes.io/name': 'portico' },
    ports: [
      { name: 'http', port: 80, targetPort: 8080, nodePort: 30080, protocol: 'TCP' },
      { name: 'https', port: 443, targetPort: 8443, nodePort: 30443, protocol: 'TCP' },
    ],
  },
} as const;
const ADMIN_PORT = 10254;
const DNS_DEPLOYMENT: DeploymentSpec = {
  namespace: 'kube-system',
  name: 'dns',
  replicas: 1,
  selector: { 'k8s-app': 'kube-dns' },
  labels: { 'k8s-app': 'kube-dns' },
  ports: [{ port: 53, name: 'dns-tcp' }],
  role: 'dns',
};
const DNS_SERVICE = {
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { namespace: 'kube-system', name: 'kube-dns' },
  spec: {
    clusterIP: DNS_CLUSTER_IP,
    selector: { 'k8s-app': 'kube-dns' },
    ports: [
      { name: 'dns', port: 53, targetPort: 53, protocol: 'UDP' },
      { name: 'dns-tcp', port: 53, targetPort: 53, protocol: 'TCP' },
    ],
  },
} as const;

export interface LabContext {
  readonly layout: LabLayout;
  readonly log: (line: string) => void;
}

// ---------------------------------------------------------------------------------------------
// State

function statePath(name: string): string {
  return join(labStateDir(name), 'state.json');
}

async function loadState(name: string): Promise<LabState | undefined> {
  const text = await readFile(statePath(name), 'utf8').catch(() => undefined);
  return text === undefined ? undefined : (JSON.parse(text) as LabState);
}

async function saveState(state: LabState): Promise<void> {
  const path = statePath(state.name);
  await writeFile(`${path}.tmp`, `${JSON.stringify(state, null, 2)}\n`);
  await rename(`${path}.tmp`, path);
}

async function writeManifest(layout: LabLayout, file: string, items: readonly unknown[]): Promise<void> {
  const path = join(layout.manifestsDir, file);
  await writeFile(`${path}.tmp`, `${JSON.stringify({ apiVersion: 'v1', kind: 'List', items }, null, 1)}\n`);
  // A rename: every watcher sees the old file or the new one, never half.
  await rename(`${path}.tmp`, path);
}

/** Renders and writes the control plane's objects (Services, slices, pass-through objects). */
async function publish(state: LabState, layout: LabLayout): Promise<void> {
  const services = renderServices(state, layout);
  await writeManifest(layout, '10-services.json', services);
  await writeManifest(layout, '20-endpointslices.json', renderEndpointSlices(state, services));
  await writeManifest(layout, '30-objects.json', Object.keys(state.passthrough).sort().map((k) => state.passthrough[k]!));
  await saveState(state);
}

async function withLock<T>(name: string, body: () => Promise<T>): Promise<T> {
  let lock: FileLock | undefined;
  try {
    lock = await acquireFileLock(join(labStateDir(name), 'lock'), { runner: new ExecCommandRunner(), timeoutMs: 120_000 });
    return await body();
  } finally {
    await lock?.release();
  }
}

/** Finishes what an interrupted command left: pods marked terminating but still there. */
async function finishRetirements(ctx: LabContext, state: LabState): Promise<void> {
  await retirePods(ctx, state, state.pods.filter((p) => p.terminating));
}

async function requireLab(name: string): Promise<{ state: LabState; layout: LabLayout }> {
  const state = await loadState(name);
  if (!state) throw new PorticoError('PORTICO_ERR_LAB_STATE', `lab ${name} is not up (no ${statePath(name)}); start it with: portico lab up --name ${name}`);
  return { state, layout: buildLayout({ name, nodes: state.nodes, subnet: state.subnet }) };
}

// ---------------------------------------------------------------------------------------------
// Checks

export async function checkHost(): Promise<void> {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) throw new PorticoError('PORTICO_ERR_LAB_HOST', 'portico lab needs root (network namespaces, links, routes, nftables): run it with sudo');
  const missing = await missingTools(['ip', 'bridge', 'nft', 'flock', 'nsenter'], process.env['PATH']);
  if (missing.length > 0) throw new PorticoError('PORTICO_ERR_LAB_HOST', `missing ${missing.join(', ')}: apt-get install iproute2 nftables util-linux`);
  if (!existsSync(PORTICO) || !existsSync(join(DIST, 'portico-cni.bundle.mjs'))) throw new PorticoError('PORTICO_ERR_LAB_HOST', `no build in ${DIST}: run npm run build`);
}

/** The lab subnet already has a route on the host (pod networks live inside the lab's namespaces). */
async function routedConflict(layout: LabLayout): Promise<string | undefined> {
  const routes = JSON.parse((await must('ip', ['-j', 'route', 'show', 'table', 'all'])) || '[]') as Array<{ dst: string; dev?: string }>;
  const ours = [layout.subnet];
  for (const route of routes) {
    if (route.dst === 'default' || route.dst === undefined) continue;
    const dst = parseCidr(route.dst.includes('/') ? route.dst : `${route.dst}/32`);
    if (!dst || dst.ip.family !== 4) continue;
    const clash = ours.find((cidr) => prefixesOverlap(cidr, dst));
    if (clash) return `${route.dst}${route.dev ? ` dev ${route.dev}` : ''}`;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Pods

function conflistPath(layout: LabLayout, node: string): string {
  return join(layout.stateDir, 'cni', node, '10-portico.conflist');
}

async function podConfig(layout: LabLayout, node: string): Promise<unknown> {
  const conflist = JSON.parse(await readFile(conflistPath(layout, node), 'utf8')) as { cniVersion: string; name: string; plugins: Array<Record<string, any>> };
  const first = conflist.plugins[0]!;
  // The runtime's view of a conflist: its first plugin with name and version; IPAM state in the lab.
  return { cniVersion: conflist.cniVersion, name: conflist.name, ...first, ipam: { ...first['ipam'], dataDir: join(layout.stateDir, 'ipam', node) } };
}

/** Starts a pod; one that cannot be wired or does not answer is removed again (never a phantom replica). */
async function startPod(ctx: LabContext, state: LabState, deployment: DeploymentSpec, nodeName: string): Promise<LabPod> {
  const before = new Set(state.pods);
  try {
    return await startPodOnce(ctx, state, deployment, nodeName);
  } catch (error) {
    for (const pod of state.pods.filter((p) => !before.has(p))) await removePod(ctx, state, pod).catch(() => undefined);
    await saveState(state);
    throw error;
  }
}

async function startPodOnce(ctx: LabContext, state: LabState, deployment: DeploymentSpec, nodeName: string): Promise<LabPod> {
  const { layout } = ctx;
  const node = layout.nodes.find((n) => n.name === nodeName)!;
  state.serial += 1;
  const name = `${deployment.name}-${state.serial.toString(36).padStart(5, '0')}`;
  const netns = podNetnsName(layout, deployment.namespace, name);
  await must('ip', ['netns', 'add', netns]);
  // `ip netns exec` bind-mounts /etc/netns/<netns>/resolv.conf over /etc/resolv.conf: the pod's DNS.
  await mkdir(`/etc/netns/${netns}`, { recursive: true });
  await writeFile(`/etc/netns/${netns}/resolv.conf`, `nameserver ${DNS_CLUSTER_IP}\nsearch ${deployment.namespace}.svc.${CLUSTER_DOMAIN} svc.${CLUSTER_DOMAIN} ${CLUSTER_DOMAIN}\noptions ndots:5\n`);
  const pod: LabPod = { namespace: deployment.namespace, name, deployment: deployment.name, node: nodeName, ip: '', netns, labels: deployment.labels, ports: deployment.ports, ready: false, terminating: false, pids: [] };
  state.pods.push(pod);
  await saveState(state); // a crash from here on still leaves a record of the namespace
  const added = await callCni({ plugin: join(layout.stateDir, 'bin', 'portico-cni'), command: 'ADD', nodeNetns: node.netns, podNetnsPath: `/run/netns/${netns}`, containerId: `${deployment.namespace}-${name}`, config: await podConfig(layout, nodeName) });
  (pod as { ip: string }).ip = added.ip ?? '';
  await must('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
  const logFile = join(layout.stateDir, 'logs', `pod-${deployment.namespace}-${name}.log`);
  const env = { NODE_NAME: nodeName, POD_NAME: name, POD_NAMESPACE: deployment.namespace };
  if (deployment.role === 'dns') {
    // Names outside the zone go to nothing reachable (the lab sends no traffic off the host): SERVFAIL.
    pod.pids.push(spawnInNetns({ netns, logFile, env, argv: [process.execPath, PORTICO, 'dns', '--manifests', layout.manifestsDir, '--listen', '0.0.0.0:53', '--upstream', '127.0.0.1:5353', '--metrics-port', '9153'] }));
  } else if (deployment.role === 'controller') {
    pod.pids.push(
      spawnInNetns({
        netns,
        logFile,
        env,
        argv: [process.execPath, PORTICO, 'controller', '--manifests', layout.manifestsDir, '--workers', '1', '--watch-ingress-without-class', '--admin-port', String(ADMIN_PORT), '--shutdown-grace-period', '2', '--shutdown-drain-timeout', '5'],
      }),
    );
  } else {
    for (const port of deployment.ports) {
      pod.pids.push(spawnInNetns({ netns, logFile, env, argv: [process.execPath, ECHO, '--host', '0.0.0.0', '--port', String(port.port), '--pod', name, '--service', deployment.name, '--node', nodeName, '--lab', `${layout.stateDir}/`] }));
    }
  }
  await saveState(state);
  for (const port of deployment.ports) {
    if (!(await waitForTcpInNetns(node.netns, pod.ip, port.port, 20_000))) throw new PorticoError('PORTICO_ERR_LAB_POD', `pod ${deployment.namespace}/${name} on ${nodeName} does not answer on ${pod.ip}:${port.port} (log: ${logFile})`);
  }
  pod.ready = true;
  ctx.log(`pod ${deployment.namespace}/${name} ready on ${nodeName} (${pod.ip})`);
  return pod;
}

/** The controller no longer sends requests to the pod (its /debug/backends lists it as not ready). */
async function untilUnrouted(layout: LabLayout, state: LabState, pod: LabPod, timeoutMs: number): Promise<void> {
  const controller = state.pods.find((p) => p.deployment === CONTROLLER_DEPLOYMENT.name && p.namespace === CONTROLLER_NAMESPACE && p.ready && !p.terminating && p !== pod);
  if (!controller) return;
  const netns = layout.nodes.find((n) => n.name === controller.node)!.netns;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const body = await httpGetInNetns(netns, `http://${controller.ip}:${ADMIN_PORT}/debug/backends`);
    if (body !== undefined) {
      const { backends } = JSON.parse(body) as { backends: Array<{ endpoints?: Array<{ address: string; state: string }> }> };
      if (!backends.some((b) => (b.endpoints ?? []).some((e) => e.address === pod.ip && e.state === 'ready'))) return;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Marks the pod terminating (published), waits until nothing routes to it, then removes it. */
async function retirePods(ctx: LabContext, state: LabState, pods: readonly LabPod[]): Promise<void> {
  if (pods.length === 0) return;
  for (const pod of pods) pod.terminating = true;
  await publish(state, ctx.layout);
  // The service proxies sync at least every 200 ms (--min-sync-period) and the controller within
  // its holdoff; wait for the controller to say so, and give the proxies their period.
  for (const pod of pods) await untilUnrouted(ctx.layout, state, pod, 10_000);
  await new Promise((resolve) => setTimeout(resolve, 600));
  // All at once: each stop may wait out its grace period (an echo server closing kept-alive connections).
  await stopProcesses(await ownedPids(pods.flatMap((pod) => pod.pids), `${ctx.layout.stateDir}/`));
  for (const pod of pods) await removePod(ctx, state, pod);
  await publish(state, ctx.layout);
}

async function removePod(ctx: LabContext, state: LabState, pod: LabPod): Promise<void> {
  const { layout } = ctx;
  await stopProcesses(await ownedPids(pod.pids, `${layout.stateDir}/`));
  const node = layout.nodes.find((n) => n.name === pod.node);
  if (node && pod.ip !== '') {
    await callCni({ plugin: join(layout.stateDir, 'bin', 'portico-cni'), command: 'DEL', nodeNetns: node.netns, podNetnsPath: `/run/netns/${pod.netns}`, containerId: `${pod.namespace}-${pod.name}`, config: await podConfig(layout, pod.node) }).catch(
      (error) => ctx.log(`warning: ${(error as Error).message}`),
    );
  }
  await run('ip', ['netns', 'del', pod.netns]);
  await rm(`/etc/netns/${pod.netns}`, { recursive: true, force: true });
  state.pods = state.pods.filter((p) => p !== pod);
  ctx.log(`pod ${pod.namespace}/${pod.name} removed from ${pod.node}`);
}

/** Brings a Deployment's pods to its replica count: new ones ready before old ones go. */
async function reconcileDeployment(ctx: LabContext, state: LabState, deployment: DeploymentSpec): Promise<void> {
  const mine = () => state.pods.filter((p) => p.namespace === deployment.namespace && p.deployment === deployment.name && !p.terminating);
  while (mine().length < deployment.replicas) {
    const node = scheduleNode(state, ctx.layout, deployment.name);
    if (!node) throw new PorticoError('PORTICO_ERR_LAB_POD', `no schedulable node for ${deployment.namespace}/${deployment.name} (all cordoned)`);
    await startPod(ctx, state, deployment, node);
  }
  await publish(state, ctx.layout);
  const extra = mine().slice(deployment.replicas);
  await retirePods(ctx, state, extra);
}

// ---------------------------------------------------------------------------------------------
// Commands

export interface UpOptions {
  readonly name: string;
  readonly nodes: number;
  readonly mode: 'host-gw' | 'vxlan';
  readonly subnet: string;
  readonly log: (line: string) => void;
}

export async function labUp(options: UpOptions): Promise<{ layout: LabLayout; loadBalancerIP: string | undefined }> {
  await checkHost();
  const layout = buildLayout(options);
  const alreadyUp = () => new PorticoError('PORTICO_ERR_LAB_STATE', `lab ${options.name} is already up (${layout.stateDir} exists); run portico lab down --name ${options.name} first`);
  if (existsSync(layout.stateDir)) throw alreadyUp();
  const conflict = await routedConflict(layout);
  if (conflict) throw new PorticoError('PORTICO_ERR_LAB_HOST', `the host already routes ${conflict}, which overlaps the lab subnet ${options.subnet}; pick another --subnet or remove that route`);
  const started = Date.now();
  // The claim is atomic: of two `up` of one name at once, exactly one gets the directory.
  await mkdir(dirname(layout.stateDir), { recursive: true });
  await mkdir(layout.stateDir).catch((error: NodeJS.ErrnoException) => {
    throw error.code === 'EEXIST' ? alreadyUp() : error;
  });
  for (const dir of ['manifests', 'logs', 'bin', 'ipam', 'cni']) await mkdir(join(layout.stateDir, dir), { recursive: true });
  const state = emptyState({ name: options.name, mode: options.mode, subnet: options.subnet, nodes: options.nodes, now: new Date() });
  await saveState(state);
  const ctx: LabContext = { layout, log: options.log };
  try {
    return await withLock(options.name, () => buildLab(ctx, state, options, started));
  } catch (error) {
    // Nothing is left half-built: what was created so far goes again.
    options.log(`lab up failed: ${(error as Error).message}; removing what was built`);
    await labDown({ name: options.name, log: options.log }).catch(() => undefined);
    throw error;
  }
}

async function buildLab(ctx: LabContext, state: LabState, options: UpOptions, started: number): Promise<{ layout: LabLayout; loadBalancerIP: string | undefined }> {
  const { layout } = ctx;
  await writeFile(join(layout.stateDir, 'heartbeat.key'), `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  await installPlugin({ binDir: join(layout.stateDir, 'bin'), appDir: DIST, nodeBinary: process.execPath, nodeVersion: process.version, log: () => undefined });
  await must('ip', ['link', 'add', layout.bridge, 'type', 'bridge']);
  await must('ip', ['addr', 'add', `${layout.hostAddress}/24`, 'dev', layout.bridge]);
  await must('ip', ['link', 'set', layout.bridge, 'up']);
  for (const node of layout.nodes) await createNode(layout, node);
  await writeManifest(layout, '00-nodes.json', renderNodes(layout));
  state.services[serviceKey(DNS_SERVICE)] = structuredClone(DNS_SERVICE) as never;
  state.deployments[`${DNS_DEPLOYMENT.namespace}/${DNS_DEPLOYMENT.name}`] = DNS_DEPLOYMENT;
  state.services[serviceKey(CONTROLLER_SERVICE)] = structuredClone(CONTROLLER_SERVICE) as never;
  state.deployments[`${CONTROLLER_NAMESPACE}/${CONTROLLER_DEPLOYMENT.name}`] = CONTROLLER_DEPLOYMENT;
  await publish(state, layout);
  for (const node of layout.nodes) startNodeComponents(layout, state, node);
  for (const node of layout.nodes) {
    if (!(await waitForFile(conflistPath(layout, node.name), 20_000))) throw new PorticoError('PORTICO_ERR_LAB_HOST', `the node agent on ${node.name} wrote no conflist (log: ${join(layout.stateDir, 'logs', `${node.name}-node-agent.log`)})`);
  }
  await reconcileDeployment(ctx, state, DNS_DEPLOYMENT);
  await reconcileDeployment(ctx, state, CONTROLLER_DEPLOYMENT);
  const loadBalancerIP = state.allocations.loadBalancerIPs[serviceKey(CONTROLLER_SERVICE)]?.[0];
  const answered = loadBalancerIP !== undefined && (await waitForHttp(`http://${loadBalancerIP}/`, 30_000));
  if (!answered) throw new PorticoError('PORTICO_ERR_LAB_HOST', `the LoadBalancer IP ${loadBalancerIP ?? '(none)'} does not answer; logs in ${join(layout.stateDir, 'logs')}`);
  options.log(`lab ${options.name} up: ${options.nodes} nodes (${options.mode}) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return { layout, loadBalancerIP };
}

async function createNode(layout: LabLayout, node: LabNode): Promise<void> {
  await must('ip', ['netns', 'add', node.netns]);
  await must('ip', ['link', 'add', node.hostLink, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', node.netns]);
  await must('ip', ['link', 'set', node.hostLink, 'master', layout.bridge, 'up']);
  await must('ip', ['-n', node.netns, 'addr', 'add', `${node.address}/24`, 'dev', 'eth0']);
  await must('ip', ['-n', node.netns, 'link', 'set', 'eth0', 'up']);
  await must('ip', ['-n', node.netns, 'link', 'set', 'lo', 'up']);
  await must('ip', ['-n', node.netns, 'route', 'add', 'default', 'via', layout.hostAddress]);
  // Nodes share one L2: a node forwarding to another would send ICMP redirects to clients.
  for (const key of ['all', 'default', 'eth0']) await must('ip', ['netns', 'exec', node.netns, 'sysctl', '-qw', `net.ipv4.conf.${key}.send_redirects=0`]);
}

function startNodeComponents(layout: LabLayout, state: LabState, node: LabNode): void {
  const log = (role: string) => join(layout.stateDir, 'logs', `${node.name}-${role}.log`);
  const base = ['--manifests', layout.manifestsDir, '--node-name', node.name, '--cluster-cidr', POD_NETWORK];
  const agent = ['--mode', state.mode, '--iface', 'eth0', '--cni-conf-dir', join(layout.stateDir, 'cni', node.name), '--heartbeat-secret-file', join(layout.stateDir, 'heartbeat.key')];
  spawnInNetns({ netns: node.netns, logFile: log('node-agent'), argv: [process.execPath, PORTICO, 'node-agent', ...base, ...agent] });
  spawnInNetns({ netns: node.netns, logFile: log('service-proxy'), argv: [process.execPath, PORTICO, 'service-proxy', ...base, '--min-sync-period', '200ms'] });
}

async function waitForFile(path: string, timeoutMs: number): Promise<boolean> {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await new Promise((r) => setTimeout(r, 50))) if (existsSync(path)) return true;
  return false;
}

async function waitForHttp(url: string, timeoutMs: number): Promise<boolean> {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
    const ok = await fetch(url, { signal: AbortSignal.timeout(1000) }).then(
      async (r) => (await r.arrayBuffer(), true),
      () => false,
    );
    if (ok) return true;
  }
  return false;
}

export async function labDown(options: { name: string; log: (line: string) => void }): Promise<boolean> {
  const stateDir = labStateDir(options.name);
  const netnsPrefix = `pl-${options.name}-`;
  const netns = (await run('ip', ['netns', 'list'])).stdout.split('\n').map((line) => line.split(' ')[0]!).filter((n) => n.startsWith(netnsPrefix));
  const links = (JSON.parse((await run('ip', ['-j', 'link', 'show'])).stdout || '[]') as Array<{ ifname: string }>).map((l) => l.ifname).filter((n) => n === `pl-${options.name}` || n.startsWith(netnsPrefix));
  const state = await loadState(options.name).catch(() => undefined);
  // Only processes that still mention the lab's path: a recorded pid may have been reused since.
  const pids = [...new Set([...(await processesMentioning(`${stateDir}/`)), ...(await ownedPids(state?.pods.flatMap((p) => p.pids) ?? [], `${stateDir}/`))])];
  const etcEntries = (await readdir('/etc/netns').catch(() => [] as string[])).filter((e) => e.startsWith(netnsPrefix));
  if (!existsSync(stateDir) && netns.length === 0 && links.length === 0 && pids.length === 0 && etcEntries.length === 0) {
    options.log(`lab ${options.name} is not up: nothing to remove`);
    return false;
  }
  await stopProcesses(pids, 3000);
  for (const name of netns) await run('ip', ['netns', 'del', name]);
  for (const link of links) await run('ip', ['link', 'del', link]);
  for (const entry of etcEntries) await rm(`/etc/netns/${entry}`, { recursive: true, force: true });
  await rm(stateDir, { recursive: true, force: true });
  options.log(`lab ${options.name} down: ${pids.length} process(es), ${netns.length} namespace(s), ${links.length} host link(s) and ${stateDir} removed`);
  return true;
}

export interface ApplyResult {
  readonly applied: string[];
  readonly problems: string[];
}

export async function labApply(options: { name: string; texts: ReadonlyArray<{ text: string; source: string }>; delete?: boolean; log: (line: string) => void }): Promise<ApplyResult> {
  await checkHost();
  const { layout } = await requireLab(options.name);
  return withLock(options.name, async () => {
    const { state } = await requireLab(options.name);
    const ctx: LabContext = { layout, log: options.log };
    await finishRetirements(ctx, state);
    const applied: string[] = [];
    const problems: string[] = [];
    const objects: LabObject[] = [];
    for (const { text, source } of options.texts) {
      const parsed = parseLabObjects(text, source);
      objects.push(...parsed.objects);
      problems.push(...parsed.problems);
    }
    const touched: DeploymentSpec[] = [];
    for (const item of objects) {
      if (item.kind === 'Deployment') {
        const key = `${item.deployment.namespace}/${item.deployment.name}`;
        if (options.delete) {
          const existing = state.deployments[key];
          if (existing) touched.push({ ...existing, replicas: 0 });
          delete state.deployments[key];
        } else {
          state.deployments[key] = item.deployment;
          touched.push(item.deployment);
        }
        applied.push(`deployment.apps/${item.deployment.name}`);
        continue;
      }
      const object = item.object;
      const key = `${object.kind}/${object.metadata.namespace ?? ''}/${object.metadata.name}`;
      if (object.kind === 'Service') {
        if (options.delete) delete state.services[serviceKey(object)];
        else state.services[serviceKey(object)] = object;
      } else if (options.delete) delete state.passthrough[key];
      else state.passthrough[key] = object as KubeObject;
      applied.push(`${object.kind.toLowerCase()}/${object.metadata.name}`);
    }
    for (const deployment of touched) await reconcileDeployment(ctx, state, deployment);
    await publish(state, layout);
    return { applied, problems };
  });
}

export async function labScale(options: { name: string; deployment: string; namespace: string; replicas: number; log: (line: string) => void }): Promise<void> {
  await checkHost();
  const { layout } = await requireLab(options.name);
  await withLock(options.name, async () => {
    const { state } = await requireLab(options.name);
    const key = `${options.namespace}/${options.deployment}`;
    const deployment = state.deployments[key];
    if (!deployment) throw new PorticoError('PORTICO_ERR_LAB_STATE', `no deployment ${key} in lab ${options.name}`);
    const ctx: LabContext = { layout, log: options.log };
    await finishRetirements(ctx, state);
    state.deployments[key] = { ...deployment, replicas: options.replicas };
    await reconcileDeployment(ctx, state, state.deployments[key]!);
  });
}

export async function labDrain(options: { name: string; node: string; log: (line: string) => void }): Promise<void> {
  await checkHost();
  const { layout } = await requireLab(options.name);
  if (!layout.nodes.some((n) => n.name === options.node)) throw new PorticoError('PORTICO_ERR_LAB_STATE', `no node ${options.node} in lab ${options.name} (nodes: ${layout.nodes.map((n) => n.name).join(', ')})`);
  await withLock(options.name, async () => {
    const { state } = await requireLab(options.name);
    const ctx: LabContext = { layout, log: options.log };
    await finishRetirements(ctx, state);
    if (!state.cordoned.includes(options.node)) state.cordoned.push(options.node);
    const evicted = state.pods.filter((p) => p.node === options.node && !p.terminating);
    // Each replacement is ready (and published) before the pod it replaces goes.
    for (const pod of evicted) {
      const deployment = state.deployments[`${pod.namespace}/${pod.deployment}`];
      if (deployment) {
        const node = scheduleNode(state, layout, deployment.name);
        if (!node) throw new PorticoError('PORTICO_ERR_LAB_POD', `no other schedulable node for ${pod.namespace}/${pod.name}`);
        await startPod(ctx, state, deployment, node);
        await publish(state, layout);
      }
    }
    await retirePods(ctx, state, evicted);
    options.log(`node ${options.node} drained: ${evicted.length} pod(s) moved`);
  });
}

export interface LabStatus {
  nodes: Array<{ name: string; address: string; podCIDR: string; ready: boolean; schedulable: boolean }>;
  pods: Array<{ namespace: string; name: string; deployment: string; node: string; ip: string; ready: boolean }>;
  services: Array<{ namespace: string; name: string; type: string; clusterIP: string; loadBalancerIP: string | null; ports: Array<{ name: string; port: number; targetPort: number | string; nodePort: number | null; protocol: string }> }>;
}

export async function labStatus(options: { name: string }): Promise<LabStatus> {
  const { state, layout } = await requireLab(options.name);
  const running = await processesMentioning(`${layout.stateDir}/`);
  const cmdlines = new Map<number, string>();
  for (const pid of running) cmdlines.set(pid, (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).replaceAll('\0', ' '));
  const services = renderServices(structuredClone(state), layout);
  return {
    nodes: layout.nodes.map((node) => {
      const components = [...cmdlines.values()].filter((cmd) => cmd.includes(` --node-name ${node.name} `));
      const ready = components.some((c) => c.includes(' node-agent ')) && components.some((c) => c.includes(' service-proxy '));
      return { name: node.name, address: node.address, podCIDR: node.podCIDR, ready, schedulable: !state.cordoned.includes(node.name) };
    }),
    pods: state.pods.map((p) => ({ namespace: p.namespace, name: p.name, deployment: p.deployment, node: p.node, ip: p.ip, ready: p.ready && !p.terminating && p.pids.every(alive) })),
    services: services.map((s) => ({
      namespace: s.metadata.namespace ?? 'default',
      name: s.metadata.name,
      type: s.spec?.type ?? 'ClusterIP',
      clusterIP: s.spec?.clusterIP ?? '',
      loadBalancerIP: s.status?.loadBalancer?.ingress?.[0]?.ip ?? null,
      ports: (s.spec?.ports ?? []).map((p) => ({ name: p.name ?? '', port: p.port, targetPort: p.targetPort ?? p.port, nodePort: p.nodePort ?? null, protocol: p.protocol ?? 'TCP' })),
    })),
  };
}
