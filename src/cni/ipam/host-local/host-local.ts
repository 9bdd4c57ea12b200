import { formatIp, type IpAddress } from '../../../lib/cidr.js';
import { CniError } from '../../cni-error.js';
import type { CniDns, CniRoute } from '../../result.js';
import { allocate, collectGarbage, freeAddresses, lookup, release, rollbackAllocation, type Allocation, type Attachment } from './allocator.js';
import type { HostLocalConfig } from './config.js';
import { parseResolvConf } from './resolv-conf.js';
import { formatRangeSet } from './range-set.js';
import type { IpamStore } from './store.js';

// host-local as a library the bridge plugin calls in-process (no exec of a second binary):
// ADD, DEL, CHECK, GC and STATUS over a store opened per network.

export interface HostLocalDeps {
  openStore(options: { dataDir: string; network: string }): IpamStore;
  readFile(path: string): Promise<string>;
}

export interface IpamResult {
  ips: Array<{ address: string; gateway: string; ip: IpAddress }>;
  routes: CniRoute[];
  dns: CniDns;
  allocation: Allocation;
}

export class HostLocal {
  readonly #deps: HostLocalDeps;

  constructor(deps: HostLocalDeps) {
    this.#deps = deps;
  }

  #store(config: HostLocalConfig): IpamStore {
    return this.#deps.openStore({ dataDir: config.dataDir, network: config.network });
  }

  /** The DNS settings of `ipam.resolvConf` (empty without one); an unreadable file is code 5. */
  async loadDns(config: HostLocalConfig): Promise<CniDns> {
    if (config.resolvConf === undefined) return {};
    try {
      return parseResolvConf(await this.#deps.readFile(config.resolvConf));
    } catch (error) {
      throw new CniError('PORTICO_ERR_CNI_IO', `ipam.resolvConf: cannot read ${config.resolvConf}: ${(error as Error).message}`);
    }
  }

  /** Reserves one address per range set. `dns` skips reading resolvConf again (see loadDns). */
  async add(config: HostLocalConfig, attachment: Attachment, options: { dns?: CniDns } = {}): Promise<IpamResult> {
    const dns = options.dns ?? (await this.loadDns(config));
    const allocation = await allocate(this.#store(config), { attachment, config });
    return {
      ips: allocation.ips.map((a) => ({ address: `${formatIp(a.ip)}/${a.prefix}`, gateway: formatIp(a.gateway), ip: a.ip })),
      routes: config.routes.map((r) => ({ ...r })),
      dns,
      allocation,
    };
  }

  /** Undoes add() after a later step failed: nothing reserved, last_reserved_ip as before. */
  async rollback(config: HostLocalConfig, allocation: Allocation): Promise<void> {
    await rollbackAllocation(this.#store(config), allocation);
  }

  async del(config: HostLocalConfig, attachment: Attachment): Promise<IpAddress[]> {
    return release(this.#store(config), attachment);
  }

  /** The attachment's reservations; CHECK fails with "unknown container" when there are none. */
  async check(config: HostLocalConfig, attachment: Attachment): Promise<IpAddress[]> {
    const ips = await lookup(this.#store(config), attachment);
    if (ips.length === 0) {
      throw new CniError('PORTICO_ERR_CNI_UNKNOWN_CONTAINER', `unknown container ${attachment.containerId}: no address is reserved for it (${attachment.ifname}) in network ${config.network}`);
    }
    return ips;
  }

  async gc(config: HostLocalConfig, valid: readonly Attachment[]): Promise<number> {
    return (await collectGarbage(this.#store(config), valid)).length;
  }

  /** Throws PORTICO_ERR_CNI_UNAVAILABLE when a range set has no free address left. */
  async status(config: HostLocalConfig): Promise<void> {
    const free = await freeAddresses(this.#store(config), config);
    const full = free.flatMap((count, index) => (count === 0n ? [index] : []));
    if (full.length > 0) {
      const sets = full.map((i) => `range set ${i} (${formatRangeSet(config.ranges[i]!)})`).join(', ');
      throw new CniError('PORTICO_ERR_CNI_UNAVAILABLE', `no IP addresses available: ${sets} ${full.length === 1 ? 'is' : 'are'} full`);
    }
  }
}
