import { parseCidr, parseIp, formatCidr, formatIp } from '../../lib/cidr.js';
import type { Link } from '../../host/net-types.js';
import { CniError } from '../cni-error.js';
import { parseResult, type CniResult } from '../result.js';
import type { CniRequest } from '../skel.js';
import type { BridgeDeps } from './deps.js';
import type { BridgeConfig } from './config.js';
import { JUMP_COMMENT, MASQ_CHAIN, MASQ_TABLE, ownedRules, parseMasqComment, POSTROUTING_CHAIN } from './masquerade.js';
import { ownerAlias, routeGateway } from './plan.js';

// CHECK: the prevResult (the ADD result the runtime cached) is the expectation. Verifies the IPAM
// reservation, the bridge, the container veth and its host peer on the bridge, every address and
// route of the result in the container, and the masquerade rules. Extra state added later by other
// plugins is tolerated.

function drift(message: string): CniError {
  return new CniError('PORTICO_ERR_CNI_CHECK_FAILED', message);
}

function sameIp(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  const pa = parseIp(a);
  const pb = parseIp(b);
  return pa !== undefined && pb !== undefined && pa.family === pb.family && pa.value === pb.value;
}

function sameCidr(a: string, b: string): boolean {
  const pa = parseCidr(a);
  const pb = parseCidr(b);
  return pa !== undefined && pb !== undefined && formatCidr(pa) === formatCidr(pb);
}

export async function checkAttachment(options: { request: CniRequest; config: BridgeConfig; netnsExists: boolean; deps: BridgeDeps }): Promise<void> {
  const { request, config, deps } = options;
  if (request.config['prevResult'] === undefined) throw new CniError('PORTICO_ERR_CNI_CONFIG', 'prevResult is required for CHECK (the result of ADD)');
  const prev: CniResult = parseResult(request.config['prevResult'], 'prevResult');
  const attachment = { containerId: request.containerId, ifname: request.ifname };

  if (config.ipam) await deps.ipam.check(config.ipam, attachment);
  else if (!options.netnsExists) throw new CniError('PORTICO_ERR_CNI_UNKNOWN_CONTAINER', `unknown container ${request.containerId}: CNI_NETNS ${request.netns} does not exist`);
  if (!options.netnsExists) throw drift(`CNI_NETNS ${request.netns} does not exist any more`);

  const hostNs = deps.host.namespace();
  const container = deps.host.namespace(request.netns);
  const bridgeIndex = prev.interfaces.findIndex((i) => i.name === config.bridge && !i.sandbox);
  const containerIndex = prev.interfaces.findIndex((i) => i.name === request.ifname && i.sandbox === request.netns);
  if (containerIndex < 0) throw drift(`prevResult has no interface ${request.ifname} with sandbox ${request.netns}`);
  const expectedContainer = prev.interfaces[containerIndex]!;

  const bridge = await hostNs.lookupLink(config.bridge);
  if (!bridge) throw drift(`bridge ${config.bridge} was not found in the host namespace`);
  if (bridge.kind !== 'bridge') throw drift(`${config.bridge} is not a bridge`);
  const expectedBridgeMac = bridgeIndex >= 0 ? prev.interfaces[bridgeIndex]!.mac : undefined;
  if (expectedBridgeMac && expectedBridgeMac !== bridge.mac) throw drift(`bridge ${config.bridge} has MAC ${bridge.mac}, the result says ${expectedBridgeMac}`);
  if (bridge.promisc !== config.promiscMode) throw drift(`bridge ${config.bridge} promiscuous mode is ${bridge.promisc ? 'on' : 'off'}, the config says ${config.promiscMode ? 'on' : 'off'}`);

  const contLink = await container.lookupLink(request.ifname);
  if (!contLink) throw drift(`interface ${request.ifname} was not found in ${request.netns}`);
  if (contLink.kind !== 'veth') throw drift(`container interface ${request.ifname} is not a veth`);
  if (expectedContainer.mac && expectedContainer.mac !== contLink.mac) throw drift(`container interface ${request.ifname} has MAC ${contLink.mac}, the result says ${expectedContainer.mac}`);
  if (contLink.alias !== ownerAlias(request.containerId)) throw drift(`container interface ${request.ifname} belongs to ${contLink.alias ?? 'no portico-cni attachment'}, not ${request.containerId}`);

  const hostLinks = await hostNs.listLinks();
  const candidates = prev.interfaces.filter((i, index) => index !== bridgeIndex && index !== containerIndex && !i.sandbox);
  let hostVeth: Link | undefined;
  for (const expected of candidates) {
    const link = hostLinks.find((l) => l.name === expected.name);
    if (!link || link.kind !== 'veth' || link.index !== contLink.peerIndex || link.peerIndex !== contLink.index || link.master !== config.bridge) continue;
    if (expected.mac && expected.mac !== link.mac) throw drift(`host veth ${link.name} has MAC ${link.mac}, the result says ${expected.mac}`);
    hostVeth = link;
    break;
  }
  if (!hostVeth) throw drift(`the veth peer of ${request.ifname} on bridge ${config.bridge} was not found`);
  if ((hostVeth.hairpin ?? false) !== config.hairpinMode) throw drift(`hairpin mode on ${hostVeth.name} is ${hostVeth.hairpin ? 'on' : 'off'}, the config says ${config.hairpinMode ? 'on' : 'off'}`);

  for (const ip of prev.ips) {
    if (ip.interface !== undefined && ip.interface !== containerIndex) continue;
    if (!contLink.addresses.some((a) => sameCidr(a.cidr, ip.address))) throw drift(`address ${ip.address} is missing on ${request.ifname}`);
  }

  const routes = await container.listRoutes();
  for (const route of prev.routes) {
    const gateway = routeGateway(route, prev.ips);
    const found = routes.some((r) => sameCidr(r.dst, route.dst) && sameIp(r.gateway, gateway) && (r.dev === undefined || r.dev === request.ifname));
    if (!found) throw drift(`route ${route.dst}${gateway ? ` via ${gateway}` : ''} is missing in ${request.netns}`);
  }

  if (config.ipam && config.ipMasq) {
    const jump = await deps.nft.listRules({ ...MASQ_TABLE, chain: POSTROUTING_CHAIN });
    if (!jump.some((r) => r.comment === JUMP_COMMENT)) throw drift(`the jump from ${POSTROUTING_CHAIN} to ${MASQ_CHAIN} in table inet ${MASQ_TABLE.name} is missing`);
    const rules = ownedRules(await deps.nft.listRules({ ...MASQ_TABLE, chain: MASQ_CHAIN }), { network: config.network, ...attachment });
    for (const ip of prev.ips) {
      const address = formatIp(parseCidr(ip.address)!.ip);
      if (!rules.some((r) => parseMasqComment(r.comment)?.ip === address)) throw drift(`the masquerade rule for ${address} is missing`);
    }
  }
}
