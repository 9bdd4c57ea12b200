import { addToIp, formatIp, networkOf, parseCidr, type IpPrefix } from '../lib/cidr.js';
import { PorticoError } from '../lib/errors.js';

// Where everything of a lab lives and what it is called (pure). Every namespace, link, file and
// process argument carries the lab name, so several labs share a host and `down` finds its own.

/** Interface names are at most 15 bytes: `pl-<name>-n<NN>` leaves 8 for the name. */
export const LAB_NAME = /^[a-z][a-z0-9]{0,7}$/;
export const STATE_ROOT = '/run/portico-lab';
export const MAX_NODES = 40;
export const POD_NETWORK = '10.244.0.0/16';
export const SERVICE_NETWORK = '10.96.0.0/16';
/** kube-system/kube-dns, where kubeadm puts it: pods' resolv.conf names it. */
export const DNS_CLUSTER_IP = '10.96.0.10';
export const CLUSTER_DOMAIN = 'cluster.local';
/** The host end of the underlay, and its prefix on the host (`pl-<name>`). */
export const HOST_OCTET = 1;
export const FIRST_NODE_OCTET = 11;
export const LB_POOL_OCTETS = [200, 250] as const;

export interface LabNode {
  readonly name: string;
  readonly index: number;
  readonly address: string;
  readonly podCIDR: string;
  readonly netns: string;
  /** The node's end of its underlay veth is `eth0`; the host's end is this. */
  readonly hostLink: string;
}

export interface LabLayout {
  readonly name: string;
  readonly stateDir: string;
  readonly manifestsDir: string;
  readonly subnet: IpPrefix;
  readonly hostAddress: string;
  /** The underlay bridge on the host. */
  readonly bridge: string;
  readonly netnsPrefix: string;
  readonly nodes: readonly LabNode[];
  /** `a.b.c.200-a.b.c.250`, for the allocator. */
  readonly lbPool: string;
}

export function checkLabName(name: string): void {
  if (!LAB_NAME.test(name)) throw new PorticoError('PORTICO_ERR_CLI_FLAG', `--name must be 1-8 lower-case letters or digits starting with a letter (interface names carry it), got ${JSON.stringify(name)}`);
}

export function labStateDir(name: string): string {
  return `${STATE_ROOT}/${name}`;
}

export function buildLayout(options: { name: string; nodes: number; subnet: string }): LabLayout {
  checkLabName(options.name);
  const subnet = parseCidr(options.subnet);
  if (!subnet || subnet.ip.family !== 4 || subnet.prefix !== 24) throw new PorticoError('PORTICO_ERR_CLI_FLAG', `--subnet must be an IPv4 /24 like 10.250.0.0/24, got ${JSON.stringify(options.subnet)}`);
  if (!Number.isInteger(options.nodes) || options.nodes < 1 || options.nodes > MAX_NODES) throw new PorticoError('PORTICO_ERR_CLI_FLAG', `--nodes must be 1-${MAX_NODES}, got ${options.nodes}`);
  const base = networkOf(subnet);
  const at = (octet: number) => formatIp(addToIp(base, BigInt(octet)));
  const stateDir = labStateDir(options.name);
  const netnsPrefix = `pl-${options.name}-`;
  const nodes: LabNode[] = [];
  for (let i = 1; i <= options.nodes; i++) {
    nodes.push({ name: `node-${i}`, index: i, address: at(FIRST_NODE_OCTET + i - 1), podCIDR: `10.244.${i}.0/24`, netns: `${netnsPrefix}node-${i}`, hostLink: `pl-${options.name}-n${i}` });
  }
  return {
    name: options.name,
    stateDir,
    manifestsDir: `${stateDir}/manifests`,
    subnet: { ip: base, prefix: 24 },
    hostAddress: at(HOST_OCTET),
    bridge: `pl-${options.name}`,
    netnsPrefix,
    nodes,
    lbPool: `${at(LB_POOL_OCTETS[0])}-${at(LB_POOL_OCTETS[1])}`,
  };
}

/** A pod's network namespace: `pl-<lab>-<namespace>-<pod>` (netns names are not length-limited). */
export function podNetnsName(layout: Pick<LabLayout, 'netnsPrefix'>, namespace: string, pod: string): string {
  return `${layout.netnsPrefix}${namespace}-${pod}`;
}
