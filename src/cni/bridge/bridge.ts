import { parseCidr, prefixesOverlap } from '../../lib/cidr.js';
import { PorticoError } from '../../lib/errors.js';
import { HostError, type NetHost, type NetNamespace } from '../../host/net-host.js';
import type { Link, NetChange } from '../../host/net-types.js';
import { NftError, type NftRunner } from '../../nft/runner.js';
import { CniError } from '../cni-error.js';
import type { HostLocal, IpamResult } from '../ipam/host-local/host-local.js';
import { fieldPath, invalid, isObject, readArray, readString } from '../json-fields.js';
import type { CniResult } from '../result.js';
import { Rollback } from '../rollback.js';
import type { CniPlugin, CniRequest } from '../skel.js';
import { checkAttachment } from './check.js';
import type { BridgeDeps } from './deps.js';
import { parseBridgeConfig, type BridgeConfig } from './config.js';
import { MASQ_CHAIN, MASQ_TABLE, ownedRules, renderMasqAdd, renderMasqDelete, renderMasqRules, staleRules, type MasqTarget } from './masquerade.js';
import { ownerAlias, planContainer, planIps, type IpPlan } from './plan.js';

// The bridge plugin: ADD, DEL, CHECK, GC and STATUS with the reference bridge's effects, through
// the NetHost / NftRunner / HostLocal interfaces. ADD registers an undo for each change it makes
// and runs them all if a later step fails.

export type { BridgeDeps } from './deps.js';

/** Pauses between reads of the host veth's state after ADD, as the reference does. */
const PORT_STATE_RETRIES_MS = [0, 50, 500, 1000, 1000];
const VETH_NAME_ATTEMPTS = 3;
const GATEWAY_ATTEMPTS = 3;

function wrap(error: unknown): PorticoError {
  if (error instanceof PorticoError) return error;
  return new CniError('PORTICO_ERR_CNI_HOST', (error as Error).message ?? String(error), { cause: error });
}

export class BridgePlugin implements CniPlugin {
  readonly #deps: BridgeDeps;

  constructor(deps: BridgeDeps) {
    this.#deps = deps;
  }

  async #requireNetns(netns: string): Promise<void> {
    const status = await this.#deps.host.probeNetns(netns);
    if (status === 'missing') throw new CniError('PORTICO_ERR_CNI_ENV', `CNI_NETNS ${netns} does not exist`);
    if (status === 'invalid') throw new CniError('PORTICO_ERR_CNI_NETNS', `CNI_NETNS ${netns} is not a network namespace`);
    if (status === 'own') throw new CniError('PORTICO_ERR_CNI_NETNS', `CNI_NETNS ${netns} is the plugin's own network namespace`);
  }

  async add(request: CniRequest): Promise<CniResult> {
    const config = parseBridgeConfig(request.config, request.args);
    await this.#requireNetns(request.netns);
    const hostNs = this.#deps.host.namespace();
    const container = this.#deps.host.namespace(request.netns);
    const attachment = { containerId: request.containerId, ifname: request.ifname };
    // Files the config names are read before anything on the host changes.
    const dns = config.ipam ? await this.#deps.ipam.loadDns(config.ipam) : {};
    const rollback = new Rollback(this.#deps.log);
    try {
      // The veth pair first: it fails cleanly when CNI_IFNAME exists, before anything else is
      // touched. Then independent steps run side by side; each registers its undo as soon as it
      // has changed something, and a failure anywhere rolls back everything once all have settled.
      const hostVeth = await this.#createVeth({ config, request, rollback });
      const [bridge, ipam] = await allSucceeded([
        this.#ensureBridgeWithPort(config, hostVeth),
        (async (): Promise<IpamResult | undefined> => {
          const ipamConfig = config.ipam;
          if (!ipamConfig) return undefined;
          const allocated = await this.#deps.ipam.add(ipamConfig, attachment, { dns });
          rollback.push('release the IPAM reservation', () => this.#deps.ipam.rollback(ipamConfig, allocated.allocation));
          return allocated;
        })(),
      ] as const);

      const plan = planIps({ ips: ipam?.ips ?? [], routes: ipam?.routes ?? [], config });
      const changes: NetChange[] = ipam
        ? planContainer({ ifname: request.ifname, containerId: request.containerId, ips: plan.ips, routes: plan.routes, config })
        : [
            { op: 'set-alias', name: request.ifname, alias: ownerAlias(request.containerId) },
            { op: 'set-up', name: request.ifname },
            { op: 'set-up', name: 'lo' },
          ];
      const [applied] = await allSucceeded([
        container.apply(changes, { readBefore: ['lo'], readBack: [request.ifname] }).then((done) => {
          if (done.before[0] && !done.before[0].up) rollback.push('set lo down again', () => container.apply([{ op: 'set-down', name: 'lo' }]));
          return done;
        }),
        ipam && config.isGateway ? this.#ensureGateway(config, bridge, plan) : undefined,
        ipam && config.ipMasq
          ? this.#addMasq({ network: config.network, ...attachment, addresses: plan.ips.map((ip) => ip.address) }).then(() => {
              rollback.push('remove the masquerade rules', () => this.#deleteMasq(config.network, attachment));
            })
          : undefined,
      ] as const);
      const containerLink = applied.after[0]!;

      const { hostLink, bridgeLink } = await this.#waitForPort(hostNs, { bridge: config.bridge, hostVeth });
      const result: CniResult = {
        interfaces: [
          { name: bridgeLink.name, mac: bridgeLink.mac, mtu: bridgeLink.mtu },
          { name: hostLink.name, mac: hostLink.mac, mtu: hostLink.mtu },
          { name: containerLink.name, mac: containerLink.mac, mtu: containerLink.mtu, sandbox: request.netns },
        ],
        ips: plan.ips,
        routes: plan.routes,
        // As the reference bridge: the result's DNS is the bridge config's `dns`, not IPAM's.
        dns: config.dns ?? {},
      };
      return result;
    } catch (error) {
      await rollback.run();
      throw wrap(error);
    }
  }

  /** Creates the veth pair from the host side; fails cleanly when CNI_IFNAME exists in the container. */
  async #createVeth(options: { config: BridgeConfig; request: CniRequest; rollback: Rollback }): Promise<string> {
    const { config, request, rollback } = options;
    const hostNs = this.#deps.host.namespace();
    for (let attempt = 1; ; attempt++) {
      const name = `veth${this.#deps.randomSuffix()}`;
      try {
        await hostNs.apply([
          {
            op: 'create-veth',
            name,
            peerName: request.ifname,
            peerNetns: request.netns,
            ...(config.mtu !== undefined ? { mtu: config.mtu } : {}),
            ...(config.mac !== undefined ? { peerMac: config.mac } : {}),
          },
        ]);
        rollback.push(`delete ${name}`, () => hostNs.deleteLink(name));
        return name;
      } catch (error) {
        if (!(error instanceof HostError) || error.kind !== 'exists') throw error;
        if (await this.#deps.host.namespace(request.netns).lookupLink(request.ifname)) {
          throw new CniError('PORTICO_ERR_CNI_ENV', `CNI_IFNAME ${request.ifname} already exists in CNI_NETNS ${request.netns}`);
        }
        if (attempt >= VETH_NAME_ATTEMPTS) throw error; // the host name kept colliding
      }
    }
  }

  /** Ensures the bridge exists and is up (created if missing), then attaches the host veth. */
  async #ensureBridgeWithPort(config: BridgeConfig, hostVeth: string): Promise<Link> {
    const hostNs = this.#deps.host.namespace();
    let bridge = await hostNs.lookupLink(config.bridge);
    if (!bridge) {
      try {
        await hostNs.apply([{ op: 'create-bridge', name: config.bridge, ...(config.mtu !== undefined ? { mtu: config.mtu } : {}) }]);
      } catch (error) {
        if (!(error instanceof HostError) || error.kind !== 'exists') throw error; // a concurrent ADD made it
      }
      bridge = await hostNs.lookupLink(config.bridge);
      if (!bridge) throw new CniError('PORTICO_ERR_CNI_HOST', `bridge ${config.bridge} vanished right after it was created`);
    }
    if (bridge.kind !== 'bridge') throw new CniError('PORTICO_ERR_CNI_HOST', `${JSON.stringify(config.bridge)} already exists but is not a bridge`);
    const changes: NetChange[] = [{ op: 'sysctl', key: `net/ipv6/conf/${config.bridge}/accept_ra`, value: '0', optional: true }];
    if (config.promiscMode && !bridge.promisc) changes.push({ op: 'set-promisc', name: config.bridge, on: true });
    if (!bridge.up) changes.push({ op: 'set-up', name: config.bridge });
    changes.push(
      { op: 'set-master', name: hostVeth, master: config.bridge },
      { op: 'set-hairpin', name: hostVeth, on: config.hairpinMode },
      { op: 'set-up', name: hostVeth },
    );
    await hostNs.apply(changes);
    return bridge;
  }

  /** Gives the bridge its gateway addresses (keeping its MAC stable) and turns on forwarding. */
  async #ensureGateway(config: BridgeConfig, initial: Link, plan: IpPlan): Promise<void> {
    const hostNs = this.#deps.host.namespace();
    let bridge = initial;
    for (let attempt = 1; ; attempt++) {
      try {
        await hostNs.apply(gatewayChanges(config, bridge, plan));
        return;
      } catch (error) {
        // A concurrent ADD added a gateway address first: look again and add what is still missing.
        if (!(error instanceof HostError) || error.kind !== 'exists' || attempt >= GATEWAY_ATTEMPTS) throw error;
        const fresh = await hostNs.lookupLink(config.bridge);
        if (!fresh) throw error;
        bridge = { ...fresh, mac: initial.mac };
      }
    }
  }

  /** Waits (as the reference does) for the host veth to be operationally up; returns fresh state. */
  async #waitForPort(hostNs: NetNamespace, names: { bridge: string; hostVeth: string }): Promise<{ hostLink: Link; bridgeLink: Link }> {
    let last = 'unknown';
    for (const pause of PORT_STATE_RETRIES_MS) {
      if (pause > 0) await this.#deps.sleep(pause);
      const { after } = await hostNs.apply([], { readBack: [names.hostVeth, names.bridge] });
      const [hostLink, bridgeLink] = after;
      if (!hostLink || !bridgeLink) throw new CniError('PORTICO_ERR_CNI_HOST', `${names.hostVeth} or ${names.bridge} disappeared during ADD`);
      last = hostLink.operState;
      if (last === 'UP') return { hostLink, bridgeLink };
    }
    throw new CniError('PORTICO_ERR_CNI_HOST', `bridge port ${names.hostVeth} did not come up (state ${last})`);
  }

  /** The pod's rules alone when the table and chains exist (fast), else the whole set-up. */
  async #addMasq(target: MasqTarget): Promise<void> {
    try {
      await this.#deps.nft.run(renderMasqRules(target));
    } catch (error) {
      if (!(error instanceof NftError) || error.kind !== 'not-found') throw error;
      await this.#deps.nft.run(renderMasqAdd(target));
    }
  }

  async #deleteMasq(network: string, owner: { containerId: string; ifname: string }): Promise<void> {
    const rules = await this.#deps.nft.listRules({ ...MASQ_TABLE, chain: MASQ_CHAIN });
    const mine = ownedRules(rules, { network, ...owner });
    if (mine.length > 0) await this.#deps.nft.run(renderMasqDelete(mine));
  }

  async del(request: CniRequest): Promise<void> {
    const config = parseBridgeConfig(request.config, request.args);
    const attachment = { containerId: request.containerId, ifname: request.ifname };
    const netns = request.netns === '' ? 'missing' : await this.#deps.host.probeNetns(request.netns);
    if (netns === 'own') throw new CniError('PORTICO_ERR_CNI_NETNS', `CNI_NETNS ${request.netns} is the plugin's own network namespace`);
    // Three independent clean-ups, side by side; each tolerates what is already gone. The host end
    // of the veth goes with the container end; addresses and routes vanish with the interface.
    const settled = await Promise.allSettled([
      netns === 'ok' ? this.#deleteOwnInterface(request) : undefined,
      config.ipam ? this.#deps.ipam.del(config.ipam, attachment) : undefined,
      config.ipMasq ? this.#deleteMasq(config.network, attachment) : undefined,
    ]);
    const errors = settled.flatMap((s) => (s.status === 'rejected' ? [s.reason as unknown] : []));
    if (errors.length > 0) throw wrap(errors[0]);
  }

  /**
   * Deletes CNI_IFNAME in the container only if this attachment made it (its alias names the
   * container ID): a DEL for an unknown container must not take another attachment's interface.
   */
  async #deleteOwnInterface(request: CniRequest): Promise<void> {
    const container = this.#deps.host.namespace(request.netns);
    const link = await container.lookupLink(request.ifname);
    if (!link) return;
    if (link.alias !== ownerAlias(request.containerId)) {
      this.#deps.log(`DEL: leaving ${request.ifname} in ${request.netns} alone: it belongs to ${link.alias ?? 'another plugin'}, not ${request.containerId}`);
      return;
    }
    await container.deleteLink(request.ifname);
  }

  async check(request: CniRequest): Promise<void> {
    const config = parseBridgeConfig(request.config, request.args);
    const status = await this.#deps.host.probeNetns(request.netns);
    if (status === 'own' || status === 'invalid') await this.#requireNetns(request.netns);
    try {
      await checkAttachment({ request, config, netnsExists: status === 'ok', deps: this.#deps });
    } catch (error) {
      throw wrap(error);
    }
  }

  async gc(request: CniRequest): Promise<void> {
    const config = parseBridgeConfig(request.config, request.args);
    const valid = parseValidAttachments(request.config);
    const errors: unknown[] = [];
    if (config.ipam) {
      const released = await this.#deps.ipam.gc(config.ipam, valid).catch((error: unknown) => {
        errors.push(error);
        return 0;
      });
      if (released > 0) this.#deps.log(`gc: released ${released} stale reservation(s) in network ${config.network}`);
    }
    try {
      // Housekeeping: ADD only adds pod rules once the table exists, so GC re-ensures the jump.
      if (config.ipMasq) await this.#deps.nft.run(renderMasqAdd({ network: config.network, containerId: '', ifname: '', addresses: [] }));
      const rules = await this.#deps.nft.listRules({ ...MASQ_TABLE, chain: MASQ_CHAIN });
      const stale = staleRules(rules, { network: config.network, valid });
      if (stale.length > 0) {
        await this.#deps.nft.run(renderMasqDelete(stale));
        this.#deps.log(`gc: removed ${stale.length} stale masquerade rule(s) in network ${config.network}`);
      }
    } catch (error) {
      // Without nft on the host there are no rules of ours to collect.
      if (config.ipMasq || !(error instanceof Error && /cannot run nft/.test(error.message))) errors.push(error);
    }
    if (errors.length > 0) {
      const first = wrap(errors[0]);
      throw errors.length === 1 ? first : new CniError(first.code, `${first.message} (and ${errors.length - 1} more GC error(s))`);
    }
  }

  async status(request: CniRequest): Promise<void> {
    const config = parseBridgeConfig(request.config, request.args);
    const tools = ['ip', 'nsenter', 'sh', ...(config.ipam ? ['flock'] : []), ...(config.ipMasq ? ['nft'] : [])];
    const missing = await this.#deps.missingTools(tools);
    if (missing.length > 0) throw new CniError('PORTICO_ERR_CNI_UNAVAILABLE', `the host lacks ${missing.join(', ')} (needed for ADD)`);
    const bridge = await this.#deps.host.namespace().lookupLink(config.bridge).catch((error: unknown) => {
      throw new CniError('PORTICO_ERR_CNI_UNAVAILABLE', `cannot inspect bridge ${config.bridge}: ${(error as Error).message}`);
    });
    if (bridge && bridge.kind !== 'bridge') {
      throw new CniError('PORTICO_ERR_CNI_DEGRADED', `${JSON.stringify(config.bridge)} exists but is not a bridge: ADD cannot attach pods and existing pods are cut off`);
    }
    if (config.ipam) await this.#deps.ipam.status(config.ipam);
  }
}

/** Awaits every promise (so none is still changing the host), then throws the first failure. */
async function allSucceeded<T extends readonly unknown[]>(promises: T): Promise<{ -readonly [K in keyof T]: Awaited<T[K]> }> {
  const settled = await Promise.allSettled(promises);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<unknown>).value) as { -readonly [K in keyof T]: Awaited<T[K]> };
}

/** Address changes for the bridge to hold the gateways of `plan`, plus forwarding sysctls. */
function gatewayChanges(config: BridgeConfig, bridge: Link, plan: IpPlan): NetChange[] {
  const changes: NetChange[] = [];
  let added = false;
  for (const wanted of plan.bridgeAddresses) {
    if (bridge.addresses.some((a) => a.cidr === wanted.cidr)) continue;
    const want = parseCidr(wanted.cidr)!;
    for (const existing of bridge.addresses.filter((a) => a.family === wanted.family && a.scope !== 'link')) {
      const clash = wanted.family === 4 || prefixesOverlap(parseCidr(existing.cidr)!, want);
      if (!clash) continue;
      if (!config.forceAddress) {
        throw new CniError('PORTICO_ERR_CNI_HOST', `bridge ${config.bridge} already has an IP address different from ${wanted.cidr} (${existing.cidr}); set forceAddress to replace it`);
      }
      changes.push({ op: 'del-addr', dev: config.bridge, cidr: existing.cidr });
    }
    changes.push({ op: 'add-addr', dev: config.bridge, cidr: wanted.cidr, noDad: true });
    added = true;
  }
  // Pin the bridge MAC; otherwise the kernel makes it follow the lowest port MAC as pods churn.
  if (added) changes.push({ op: 'set-mac', name: config.bridge, mac: bridge.mac });
  if (plan.bridgeAddresses.some((a) => a.family === 4)) changes.push({ op: 'sysctl', key: 'net/ipv4/ip_forward', value: '1' });
  if (plan.bridgeAddresses.some((a) => a.family === 6)) changes.push({ op: 'sysctl', key: 'net/ipv6/conf/all/forwarding', value: '1' });
  return changes;
}

/** `cni.dev/valid-attachments`: the attachments GC must keep. */
export function parseValidAttachments(config: Record<string, unknown>): Array<{ containerId: string; ifname: string }> {
  const key = 'cni.dev/valid-attachments';
  const list = readArray(config, key);
  if (list === undefined) invalid(key, 'is required for GC (the attachments to keep)');
  return list.map((item, i) => {
    const path = fieldPath(key, i);
    if (!isObject(item)) invalid(path, 'must be an object with containerID and ifname');
    const containerId = readString(item, 'containerID', path);
    const ifname = readString(item, 'ifname', path);
    if (!containerId) invalid(fieldPath(path, 'containerID'), 'is required');
    if (!ifname) invalid(fieldPath(path, 'ifname'), 'is required');
    return { containerId, ifname };
  });
}
