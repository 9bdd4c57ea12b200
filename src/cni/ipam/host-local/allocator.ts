import { formatIp, ipEquals, type IpAddress } from '../../../lib/cidr.js';
import { CniError } from '../../cni-error.js';
import type { HostLocalConfig } from './config.js';
import { candidates, formatRangeSet, freeCount, rangeFor, type RangeSet } from './range-set.js';
import { matches, type IpamStore, type Reservation } from './store.js';

// host-local's allocation logic over an IpamStore: one address per range set, round-robin from the
// last reserved address, requested addresses honoured, duplicates refused, all-or-nothing. Pure
// apart from the store, which it holds locked for the whole operation.

export interface Attachment {
  containerId: string;
  ifname: string;
}

export interface AllocatedIp {
  ip: IpAddress;
  prefix: number;
  gateway: IpAddress;
  setIndex: number;
}

export interface Allocation {
  ips: AllocatedIp[];
  /** last_reserved_ip per set before this allocation, so a rollback can restore it. */
  previousLast: ReadonlyMap<string, IpAddress | undefined>;
}

/** Runs fn under the store lock; for read and release operations on a store that does not exist, returns `absent`. */
async function withLock<T>(store: IpamStore, fn: () => Promise<T>, options: { absent?: () => T } = {}): Promise<T> {
  const locked = await store.lock(options.absent ? { create: false } : {});
  if (!locked) return options.absent!();
  try {
    return await fn();
  } finally {
    await store.unlock();
  }
}

async function allocateInSet(
  store: IpamStore,
  request: { attachment: Attachment; set: RangeSet; setIndex: number; requested: IpAddress | undefined },
): Promise<AllocatedIp> {
  const { attachment, set, setIndex, requested } = request;
  const rangeId = String(setIndex);
  const where = `range set ${setIndex} (${formatRangeSet(set)})`;
  if (requested) {
    const range = rangeFor(set, requested)!;
    if (ipEquals(requested, range.gateway)) {
      throw new CniError('PORTICO_ERR_CNI_IPAM_CONFLICT', `requested IP ${formatIp(requested)} is the gateway of ${where}`);
    }
    if (!(await store.reserve({ ...attachment, ip: requested, rangeId }))) {
      throw new CniError('PORTICO_ERR_CNI_IPAM_CONFLICT', `requested IP ${formatIp(requested)} is not available in ${where}`);
    }
    return { ip: requested, prefix: range.subnet.prefix, gateway: range.gateway, setIndex };
  }
  for (const ip of await store.getByAttachment(attachment)) {
    if (rangeFor(set, ip)) {
      throw new CniError(
        'PORTICO_ERR_CNI_IPAM_CONFLICT',
        `${formatIp(ip)} has been allocated to ${attachment.containerId} (${attachment.ifname}) in ${where}, duplicate allocation is not allowed`,
      );
    }
  }
  for (const { ip, range } of candidates(set, await store.lastReservedIp(rangeId))) {
    if (await store.reserve({ ...attachment, ip, rangeId })) return { ip, prefix: range.subnet.prefix, gateway: range.gateway, setIndex };
  }
  throw new CniError('PORTICO_ERR_CNI_IPAM_EXHAUSTED', `no IP addresses available in ${where}`);
}

/** Reserves one address per range set for the attachment, or nothing (errors undo partial work). */
export async function allocate(store: IpamStore, request: { attachment: Attachment; config: HostLocalConfig }): Promise<Allocation> {
  const { attachment, config } = request;
  return withLock(store, async () => {
    const previousLast = new Map<string, IpAddress | undefined>();
    for (const index of config.ranges.keys()) previousLast.set(String(index), await store.lastReservedIp(String(index)));
    const remaining = new Map(config.requestedIps.map((ip) => [formatIp(ip), ip]));
    const ips: AllocatedIp[] = [];
    try {
      for (const [setIndex, set] of config.ranges.entries()) {
        let requested: IpAddress | undefined;
        for (const [key, ip] of remaining) {
          if (rangeFor(set, ip)) {
            requested = ip;
            remaining.delete(key);
            break;
          }
        }
        ips.push(await allocateInSet(store, { attachment, set, setIndex, requested }));
      }
      if (remaining.size > 0) {
        throw new CniError('PORTICO_ERR_CNI_IPAM_CONFLICT', `failed to allocate all requested IPs: ${[...remaining.keys()].join(' ')} (not in any range set)`);
      }
    } catch (error) {
      // The original error is the one worth reporting; undo is best effort on a store that works.
      await undoReservations(store, { ips, previousLast }).catch(() => {});
      throw error;
    }
    return { ips, previousLast };
  });
}

/** Releases what allocate() reserved and restores last_reserved_ip where nobody moved it since. */
async function undoReservations(store: IpamStore, allocation: Allocation): Promise<void> {
  for (const allocated of allocation.ips) await store.releaseIp(allocated.ip);
  for (const allocated of allocation.ips) {
    const rangeId = String(allocated.setIndex);
    const current = await store.lastReservedIp(rangeId);
    if (ipEquals(current, allocated.ip)) await store.setLastReservedIp(rangeId, allocation.previousLast.get(rangeId));
  }
}

/** Rolls back a successful allocate() after a later step of ADD failed. */
export async function rollbackAllocation(store: IpamStore, allocation: Allocation): Promise<void> {
  await withLock(store, () => undoReservations(store, allocation));
}

export async function release(store: IpamStore, attachment: Attachment): Promise<IpAddress[]> {
  return withLock(store, () => store.releaseByAttachment(attachment), { absent: () => [] });
}

export async function lookup(store: IpamStore, attachment: Attachment): Promise<IpAddress[]> {
  return withLock(store, () => store.getByAttachment(attachment), { absent: () => [] });
}

/** Releases every reservation whose attachment is not in `valid`; returns what it released. */
export async function collectGarbage(store: IpamStore, valid: readonly Attachment[]): Promise<Reservation[]> {
  return withLock(store, async () => {
    const released: Reservation[] = [];
    for (const reservation of await store.list()) {
      const keep = valid.some((attachment) => matches(reservation, attachment, true));
      if (keep) continue;
      await store.releaseIp(reservation.ip);
      released.push(reservation);
    }
    return released;
  }, { absent: () => [] });
}

/** For each range set, how many addresses are still free. */
export async function freeAddresses(store: IpamStore, config: HostLocalConfig): Promise<bigint[]> {
  return withLock(store, async () => {
    const reserved = (await store.list()).map((r) => r.ip);
    return config.ranges.map((set) => freeCount(set, reserved));
  }, { absent: () => config.ranges.map((set) => freeCount(set, [])) });
}
