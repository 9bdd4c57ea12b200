import type { IpAddress } from '../../../lib/cidr.js';

// What the allocator needs from persistent state. DiskStore keeps the reference plugin's layout;
// FakeIpamStore keeps it in memory for pure tests. Every method but lock() expects the lock held.

export interface Reservation {
  ip: IpAddress;
  containerId: string;
  /** undefined for files written by old host-local versions (container id only). */
  ifname: string | undefined;
}

export interface IpamStore {
  /**
   * Takes the store's lock. With `create: false` a store that does not exist yet is left alone
   * and false is returned (nothing is reserved in it), so DEL, CHECK and GC write nothing.
   */
  lock(options?: { create?: boolean }): Promise<boolean>;
  unlock(): Promise<void>;
  /** Claims `ip` for the attachment; false when it is already taken. Records it as the set's last reserved IP. */
  reserve(options: { containerId: string; ifname: string; ip: IpAddress; rangeId: string }): Promise<boolean>;
  lastReservedIp(rangeId: string): Promise<IpAddress | undefined>;
  /** Restores the set's last reserved IP (undefined removes the record). */
  setLastReservedIp(rangeId: string, ip: IpAddress | undefined): Promise<void>;
  /** The attachment's addresses (including legacy id-only reservations). */
  getByAttachment(options: { containerId: string; ifname: string }): Promise<IpAddress[]>;
  /** Releases the attachment's addresses, or legacy id-only ones when there are none; returns them. */
  releaseByAttachment(options: { containerId: string; ifname: string }): Promise<IpAddress[]>;
  releaseIp(ip: IpAddress): Promise<void>;
  list(): Promise<Reservation[]>;
}

/** Exact `<id>\r\n<ifname>` match, or (legacy) a file holding just the id. */
export function matches(reservation: Reservation, attachment: { containerId: string; ifname: string }, legacyToo: boolean): boolean {
  if (reservation.containerId !== attachment.containerId.trim()) return false;
  if (reservation.ifname === undefined) return legacyToo;
  return reservation.ifname === attachment.ifname;
}

/** getByAttachment in terms of list(): shared by every store so they cannot drift apart. */
export async function findAttachmentIps(store: Pick<IpamStore, 'list'>, attachment: { containerId: string; ifname: string }): Promise<IpAddress[]> {
  return (await store.list()).filter((r) => matches(r, attachment, true)).map((r) => r.ip);
}

/** releaseByAttachment in terms of list() + releaseIp(): exact matches, else legacy id-only files. */
export async function releaseAttachmentIps(store: Pick<IpamStore, 'list' | 'releaseIp'>, attachment: { containerId: string; ifname: string }): Promise<IpAddress[]> {
  const all = await store.list();
  let mine = all.filter((r) => matches(r, attachment, false));
  if (mine.length === 0) mine = all.filter((r) => r.ifname === undefined && r.containerId === attachment.containerId.trim());
  for (const r of mine) await store.releaseIp(r.ip);
  return mine.map((r) => r.ip);
}
