import { parseAllDocuments } from 'yaml';
import { PorticoError } from '../lib/errors.js';
import { parseCidr, parseIp, prefixContains } from '../lib/cidr.js';
import type { KubeObject, Service } from '../model/k8s-objects.js';
import { isPlainObject } from '../source/object-schema.js';
import { parseKubeObject } from '../source/parse-object.js';
import { NODE_PORT_RANGE, type DeploymentSpec } from './control-plane.js';
import { SERVICE_NETWORK } from './layout.js';

// `portico lab apply -f`: untrusted YAML/JSON → the objects the lab runs. IngressClass, Ingress,
// Service and Secret go through the same parser as the controller's manifests; apps/v1
// Deployment is read here (replicas, selector, template labels, containerPorts; the image is
// ignored). Each bad object is a problem naming kind/name; the others are kept.

export type LabObject = { kind: 'Deployment'; deployment: DeploymentSpec } | { kind: 'Object'; object: KubeObject };

export interface ParsedLabObjects {
  readonly objects: LabObject[];
  /** `Kind/name: what is wrong` */
  readonly problems: string[];
}

const ACCEPTED = new Set(['IngressClass', 'Ingress', 'Service', 'Secret']);
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

function labels(value: unknown, where: string, problems: string[]): Record<string, string> {
  if (!isPlainObject(value)) {
    problems.push(`${where} must be a map of labels`);
    return {};
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string' || !LABEL_VALUE.test(v) || v.length > 63) problems.push(`${where}.${k} must be a label value, got ${JSON.stringify(v)}`);
    else out[k] = v;
  }
  return out;
}

export function parseDeployment(raw: Record<string, unknown>): DeploymentSpec {
  const problems: string[] = [];
  if (raw['apiVersion'] !== 'apps/v1') problems.push(`apiVersion must be apps/v1, got ${JSON.stringify(raw['apiVersion'] ?? null)}`);
  const metadata = isPlainObject(raw['metadata']) ? raw['metadata'] : {};
  const name = metadata['name'];
  const namespace = metadata['namespace'] ?? 'default';
  if (typeof name !== 'string' || !NAME.test(name) || name.length > 40) problems.push('metadata.name must be a DNS label of at most 40 characters');
  if (typeof namespace !== 'string' || !NAME.test(namespace)) problems.push('metadata.namespace must be a DNS label');
  const spec = isPlainObject(raw['spec']) ? raw['spec'] : {};
  const replicas = spec['replicas'] ?? 1;
  if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0 || replicas > 50) problems.push(`spec.replicas must be an integer 0-50, got ${JSON.stringify(replicas)}`);
  const selector = labels(isPlainObject(spec['selector']) ? spec['selector']['matchLabels'] : undefined, 'spec.selector.matchLabels', problems);
  if (Object.keys(selector).length === 0) problems.push('spec.selector.matchLabels must select something');
  const template = isPlainObject(spec['template']) ? spec['template'] : {};
  const templateLabels = labels(isPlainObject(template['metadata']) ? template['metadata']['labels'] : undefined, 'spec.template.metadata.labels', problems);
  for (const [k, v] of Object.entries(selector)) if (templateLabels[k] !== v) problems.push(`spec.template.metadata.labels does not match spec.selector (${k}=${v})`);
  const podSpec = isPlainObject(template['spec']) ? template['spec'] : {};
  const containers = Array.isArray(podSpec['containers']) ? podSpec['containers'] : [];
  if (containers.length === 0) problems.push('spec.template.spec.containers must list at least one container');
  const ports: Array<{ port: number; name?: string }> = [];
  containers.forEach((container: unknown, i) => {
    const list = isPlainObject(container) && Array.isArray(container['ports']) ? container['ports'] : [];
    list.forEach((entry: unknown, j) => {
      const where = `spec.template.spec.containers[${i}].ports[${j}]`;
      const port = isPlainObject(entry) ? entry['containerPort'] : undefined;
      const portName = isPlainObject(entry) ? entry['name'] : undefined;
      if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) return problems.push(`${where}.containerPort must be a port number`);
      if (ports.some((p) => p.port === port)) return problems.push(`${where}.containerPort ${port} is listed twice`);
      if (portName !== undefined && (typeof portName !== 'string' || !NAME.test(portName))) return problems.push(`${where}.name must be a DNS label`);
      ports.push({ port, ...(typeof portName === 'string' && { name: portName }) });
    });
  });
  if (containers.length > 0 && ports.length === 0) problems.push('the containers list no containerPorts: the echo server needs one to listen on');
  if (problems.length > 0) throw new PorticoError('PORTICO_ERR_MANIFEST_INVALID', problems.join('; '));
  return { namespace: namespace as string, name: name as string, replicas: replicas as number, selector, labels: templateLabels, ports };
}

const SERVICE_TYPES = new Set(['ClusterIP', 'NodePort', 'LoadBalancer']);
const PROTOCOLS = new Set(['TCP', 'UDP', 'SCTP']);
const isPort = (value: unknown) => typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 65535;

/** What the API server would refuse in a Service the lab runs (the shared parser checks shapes only). */
export function checkService(service: Service): void {
  const problems: string[] = [];
  const spec = service.spec ?? {};
  if (spec.type !== undefined && !SERVICE_TYPES.has(spec.type)) problems.push(`spec.type must be ClusterIP, NodePort or LoadBalancer, got ${JSON.stringify(spec.type)}`);
  if (spec.clusterIP !== undefined && spec.clusterIP !== 'None' && spec.clusterIP !== '') {
    const ip = parseIp(spec.clusterIP);
    if (!ip || !prefixContains(parseCidr(SERVICE_NETWORK)!, ip)) problems.push(`spec.clusterIP must lie in the lab's service network ${SERVICE_NETWORK}, got ${JSON.stringify(spec.clusterIP)}`);
  }
  (spec.ports ?? []).forEach((port, i) => {
    const where = `spec.ports[${i}]`;
    if (!isPort(port.port)) problems.push(`${where}.port must be 1-65535, got ${JSON.stringify(port.port)}`);
    if (port.protocol !== undefined && !PROTOCOLS.has(port.protocol)) problems.push(`${where}.protocol must be TCP, UDP or SCTP`);
    const target = port.targetPort;
    if (target !== undefined && !(isPort(target) || (typeof target === 'string' && NAME.test(target)))) problems.push(`${where}.targetPort must be a port number or a port name`);
    if (port.nodePort !== undefined && !(Number.isInteger(port.nodePort) && port.nodePort >= NODE_PORT_RANGE[0] && port.nodePort <= NODE_PORT_RANGE[1])) {
      problems.push(`${where}.nodePort must be ${NODE_PORT_RANGE[0]}-${NODE_PORT_RANGE[1]}, got ${JSON.stringify(port.nodePort)}`);
    }
  });
  if ((spec.ports ?? []).length === 0) problems.push('spec.ports must list at least one port');
  if (problems.length > 0) throw new PorticoError('PORTICO_ERR_MANIFEST_INVALID', problems.join('; '));
}

function describe(raw: unknown): string {
  if (!isPlainObject(raw)) return 'document';
  const metadata = isPlainObject(raw['metadata']) ? raw['metadata'] : {};
  return `${typeof raw['kind'] === 'string' ? raw['kind'] : 'object'}/${typeof metadata['name'] === 'string' ? metadata['name'] : '?'}`;
}

export function parseLabObjects(text: string, source: string): ParsedLabObjects {
  const objects: LabObject[] = [];
  const problems: string[] = [];
  const docs = parseAllDocuments(text);
  for (const [index, doc] of docs.entries()) {
    if (doc.errors.length > 0) {
      problems.push(`${source}#${index}: not valid YAML: ${doc.errors[0]!.message.split('\n')[0]}`);
      continue;
    }
    const raw: unknown = doc.toJS();
    if (raw === null || raw === undefined) continue;
    const items = isPlainObject(raw) && raw['kind'] === 'List' && Array.isArray(raw['items']) ? (raw['items'] as unknown[]) : [raw];
    for (const item of items) {
      try {
        if (isPlainObject(item) && item['kind'] === 'Deployment') {
          objects.push({ kind: 'Deployment', deployment: parseDeployment(item) });
          continue;
        }
        if (!isPlainObject(item) || typeof item['kind'] !== 'string' || !ACCEPTED.has(item['kind'])) {
          throw new PorticoError('PORTICO_ERR_MANIFEST_KIND', `the lab applies IngressClass, Ingress, Service, Secret and apps/v1 Deployment, not ${isPlainObject(item) ? JSON.stringify(item['kind']) : 'this'}`);
        }
        const object = parseKubeObject(item);
        if (object.kind === 'Service') checkService(object);
        objects.push({ kind: 'Object', object });
      } catch (error) {
        problems.push(`${describe(item)}: ${(error as Error).message}`);
      }
    }
  }
  return { objects, problems };
}
