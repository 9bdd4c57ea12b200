import { formatIp, parseIp, type IpAddress } from '../../../lib/cidr.js';
import type { FaultPlan } from '../../../lib/fault-plan.js';
import { findAttachmentIps, releaseAttachmentIps, type IpamStore, type Reservation } from './store.js';

/** IpamStore in memory: file name → content, as DiskStore would write them. */
export class FakeIpamStore implements IpamStore {
  readonly files = new Map<string, string>();
  readonly #faults: FaultPlan | undefined;
  #locked = false;

  constructor(options: { faults?: FaultPlan } = {}) {
    this.#faults = options.faults;
  }

  get locked(): boolean {
    return this.#locked;
  }

  async lock(options: { create?: boolean } = {}): Promise<boolean> {
    this.#faults?.step('ipam lock');
    if (this.#locked) throw new Error('FakeIpamStore: lock is already held');
    if (options.create === false && this.files.size === 0) return false;
    this.#locked = true;
    return true;
  }

  async unlock(): Promise<void> {
    this.#locked = false;
  }

  #mustHoldLock(): void {
    if (!this.#locked) throw new Error('FakeIpamStore: used without the lock');
  }

  async reserve(options: { containerId: string; ifname: string; ip: IpAddress; rangeId: string }): Promise<boolean> {
    this.#mustHoldLock();
    this.#faults?.step(`ipam reserve ${formatIp(options.ip)}`);
    const name = formatIp(options.ip);
    if (this.files.has(name)) return false;
    this.files.set(name, `${options.containerId.trim()}\r\n${options.ifname}`);
    this.files.set(`last_reserved_ip.${options.rangeId}`, name);
    return true;
  }

  async lastReservedIp(rangeId: string): Promise<IpAddress | undefined> {
    this.#mustHoldLock();
    const text = this.files.get(`last_reserved_ip.${rangeId}`);
    return text === undefined ? undefined : parseIp(text);
  }

  async setLastReservedIp(rangeId: string, ip: IpAddress | undefined): Promise<void> {
    this.#mustHoldLock();
    this.#faults?.step('ipam set last reserved');
    if (ip === undefined) this.files.delete(`last_reserved_ip.${rangeId}`);
    else this.files.set(`last_reserved_ip.${rangeId}`, formatIp(ip));
  }

  async list(): Promise<Reservation[]> {
    this.#mustHoldLock();
    this.#faults?.step('ipam list');
    const out: Reservation[] = [];
    for (const [name, content] of [...this.files.entries()].sort()) {
      const ip = parseIp(name);
      if (!ip) continue;
      const [containerId, ifname] = content.trim().split('\r\n');
      out.push({ ip, containerId: containerId ?? '', ifname });
    }
    return out;
  }

  getByAttachment(options: { containerId: string; ifname: string }): Promise<IpAddress[]> {
    return findAttachmentIps(this, options);
  }

  releaseByAttachment(options: { containerId: string; ifname: string }): Promise<IpAddress[]> {
    return releaseAttachmentIps(this, options);
  }

  async releaseIp(ip: IpAddress): Promise<void> {
    this.#mustHoldLock();
    this.#faults?.step(`ipam release ${formatIp(ip)}`);
    this.files.delete(formatIp(ip));
  }
}
