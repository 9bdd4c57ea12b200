import type { Link, NetChange, Route } from './net-types.js';

// The OS adapter the CNI plugin works through: one NetNamespace per network namespace (the
// plugin's own, or a container's by path). ExecNetHost runs ip/nsenter; FakeNetHost is a model.

export interface NetNamespace {
  /** undefined: the namespace the plugin runs in. */
  readonly path: string | undefined;
  lookupLink(name: string): Promise<Link | undefined>;
  listLinks(): Promise<Link[]>;
  /** Unicast routes of the main table, both families. */
  listRoutes(): Promise<Route[]>;
  /**
   * Applies the changes in order, stopping at the first failure (HostError). `readBefore` and
   * `readBack` name links (which must exist) to return as they are before and after the changes,
   * in the same round trip.
   */
  apply(changes: readonly NetChange[], options?: ApplyOptions): Promise<Applied>;
  /** Deletes a link (a veth takes its peer with it); false when it did not exist. */
  deleteLink(name: string): Promise<boolean>;
}

export interface ApplyOptions {
  readBefore?: readonly string[];
  readBack?: readonly string[];
}

export interface Applied {
  before: Link[];
  after: Link[];
}

/** `ok`; `missing` (no such path); `invalid` (not a network namespace); `own` (the plugin's). */
export type NetnsStatus = 'ok' | 'missing' | 'invalid' | 'own';

export interface NetHost {
  namespace(path?: string): NetNamespace;
  probeNetns(path: string): Promise<NetnsStatus>;
}

export type HostErrorKind = 'exists' | 'not-found' | 'failed';

export class HostError extends Error {
  readonly kind: HostErrorKind;
  /** Index of the change that failed, for apply(). */
  readonly changeIndex: number | undefined;
  constructor(kind: HostErrorKind, message: string, changeIndex?: number) {
    super(message);
    this.name = 'HostError';
    this.kind = kind;
    this.changeIndex = changeIndex;
  }
}
