import { defaultPrefix, formatCidr, formatIp, networkOf, nextIp, parseCidr, parseIp, type IpFamily } from '../../lib/cidr.js';
import type { NetChange } from '../../host/net-types.js';
import type { CniIpConfig, CniRoute } from '../result.js';
import type { BridgeConfig } from './config.js';

// Pure parts of the bridge ADD: which addresses, gateways and routes the pod gets (the
// reference's calcGateways), and the change list for the container namespace.

/** The container interface's position in the result's `interfaces` (bridge, host veth, container). */
export const CONTAINER_INTERFACE_INDEX = 2;

export interface IpPlan {
  ips: CniIpConfig[];
  routes: CniRoute[];
  /** Addresses the bridge takes when it is the gateway (`10.244.1.1/24`), per family. */
  bridgeAddresses: Array<{ cidr: string; family: IpFamily }>;
}

export function planIps(options: { ips: ReadonlyArray<{ address: string; gateway?: string }>; routes: readonly CniRoute[]; config: BridgeConfig }): IpPlan {
  const { config } = options;
  const ips: CniIpConfig[] = [];
  const routes = options.routes.map((r) => ({ ...r }));
  const bridgeAddresses: IpPlan['bridgeAddresses'] = [];
  const defaultFound = new Set<IpFamily>();
  for (const ipam of options.ips) {
    const cidr = parseCidr(ipam.address)!;
    const family = cidr.ip.family;
    let gateway = ipam.gateway;
    if (gateway === undefined && config.isGateway) gateway = formatIp(nextIp(networkOf(cidr)));
    ips.push({ interface: CONTAINER_INTERFACE_INDEX, address: ipam.address, ...(gateway !== undefined ? { gateway } : {}) });
    if (config.isDefaultGateway && !defaultFound.has(family)) {
      const all = formatCidr(defaultPrefix(family));
      if (!routes.some((r) => r.gw !== undefined && r.dst === all)) routes.push({ dst: all, ...(gateway !== undefined ? { gw: gateway } : {}) });
      defaultFound.add(family);
    }
    if (config.isGateway && gateway !== undefined) {
      const cidrText = `${gateway}/${cidr.prefix}`;
      if (!bridgeAddresses.some((a) => a.cidr === cidrText)) bridgeAddresses.push({ cidr: cidrText, family });
    }
  }
  return { ips, routes, bridgeAddresses };
}

/** The gateway a route without `gw` uses: the first address of its family that has one. */
export function routeGateway(route: CniRoute, ips: readonly CniIpConfig[]): string | undefined {
  if (route.gw !== undefined) return route.gw;
  const family = parseCidr(route.dst)?.ip.family;
  return ips.find((ip) => ip.gateway !== undefined && parseIp(ip.gateway)?.family === family)?.gateway;
}

/** The alias that marks a container interface as this attachment's (DEL deletes only those). */
export function ownerAlias(containerId: string): string {
  return `portico-cni:${containerId}`;
}

/** Sysctls, owner alias, addresses, link up and routes for the container interface (lo comes last). */
export function planContainer(options: { ifname: string; containerId: string; ips: readonly CniIpConfig[]; routes: readonly CniRoute[]; config: BridgeConfig }): NetChange[] {
  const { ifname, ips, routes, config } = options;
  const changes: NetChange[] = [{ op: 'sysctl', key: `net/ipv4/conf/${ifname}/arp_notify`, value: '1', optional: true }];
  if (config.enableDad) {
    changes.push({ op: 'sysctl', key: `net/ipv6/conf/${ifname}/enhanced_dad`, value: '1', optional: true });
    changes.push({ op: 'sysctl', key: `net/ipv6/conf/${ifname}/accept_dad`, value: '1', optional: true });
  } else {
    changes.push({ op: 'sysctl', key: `net/ipv6/conf/${ifname}/accept_dad`, value: '0', optional: true });
  }
  if (ips.some((ip) => ip.address.includes(':'))) changes.push({ op: 'sysctl', key: `net/ipv6/conf/${ifname}/disable_ipv6`, value: '0' });
  changes.push({ op: 'set-alias', name: ifname, alias: ownerAlias(options.containerId) });
  for (const ip of ips) changes.push({ op: 'add-addr', dev: ifname, cidr: ip.address, noDad: !config.enableDad });
  changes.push({ op: 'set-up', name: ifname });
  for (const route of routes) {
    const gateway = routeGateway(route, ips);
    changes.push({
      op: 'add-route',
      route: {
        dst: route.dst,
        dev: ifname,
        ...(gateway !== undefined ? { gateway } : {}),
        ...(route.mtu ? { mtu: route.mtu } : {}),
        ...(route.advmss ? { advmss: route.advmss } : {}),
        ...(route.priority ? { metric: route.priority } : {}),
        ...(route.table ? { table: route.table } : {}),
        ...(route.scope ? { scope: route.scope } : {}),
      },
    });
  }
  changes.push({ op: 'set-up', name: 'lo' });
  return changes;
}
