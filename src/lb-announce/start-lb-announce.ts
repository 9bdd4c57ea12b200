// Wiring for the node agent: the heartbeat membership, the holder-link announcer and the
// LoadBalancerAnnouncer over the real OS (ip, unshare, arping), in one call. `portico node-agent`
// calls startLoadBalancerAnnouncement after its store is fed, stop() on SIGTERM, and
// cleanupLoadBalancerAnnouncement for --cleanup.
import { parseCidr, formatIp } from '../lib/cidr.js';
import type { Logger } from '../lib/logger.js';
import { ExecCommandRunner, type CommandRunner } from '../lib/run-command.js';
import { ExecNetHost } from '../host/exec-net-host.js';
import type { NetHost } from '../host/net-host.js';
import type { ObjectStore } from '../store/object-store.js';
import { execHolder, HolderAnnouncer, type SpawnHolder } from './announcer.js';
import { Membership, type HeartbeatEvent } from './heartbeat.js';
import { LoadBalancerAnnouncer, type AnnounceDiagnostic } from './lb-announcer.js';

export interface StartLoadBalancerAnnouncementOptions {
  store: ObjectStore;
  nodeName: string;
  /** The underlay interface, the one with the node's InternalIP. */
  iface: string;
  /**
   * The node's InternalIP(s) with their prefix as configured on `iface` (`10.30.0.11/24`): the
   * underlay subnets, and the addresses the heartbeat sockets bind. underlaySubnets() computes them.
   */
  nodeAddresses: readonly string[];
  /** Heartbeat UDP port, the same on every node. Default 7946. */
  port?: number;
  /** The shared key (loadHeartbeatSecret(--heartbeat-secret-file)). Without one: a warning, see heartbeat.ts. */
  secret?: Buffer | undefined;
  intervalMs?: number;
  deadAfterMs?: number;
  loadBalancerClass?: string | undefined;
  logger: Logger;
  onDiagnostic?: (diagnostic: AnnounceDiagnostic) => void;
  onHeartbeatEvent?: (event: HeartbeatEvent) => void;
  /** Defaults: ExecCommandRunner, ExecNetHost over it, the unshare holder, `arping`. */
  runner?: CommandRunner;
  net?: NetHost;
  spawnHolder?: SpawnHolder;
  arping?: string;
  /** Runs the unsolicited-NA script; default `perl`. */
  perl?: string;
}

export interface RunningAnnouncement {
  readonly announcer: LoadBalancerAnnouncer;
  readonly membership: Membership;
  readonly holder: HolderAnnouncer;
  /** The store's source has listed everything once: announcing may start (LoadBalancerAnnouncer.markSynced). */
  markSynced(): void;
  /** SIGTERM: withdraws every address at once, then tells the peers this node leaves. */
  stop(): Promise<void>;
}

/** Binds the heartbeat sockets (PORTICO_ERR_ANNOUNCE_HEARTBEAT). Nothing is announced before markSynced(). */
export async function startLoadBalancerAnnouncement(options: StartLoadBalancerAnnouncementOptions): Promise<RunningAnnouncement> {
  const runner = options.runner ?? new ExecCommandRunner();
  const net = options.net ?? new ExecNetHost({ runner });
  const bind = options.nodeAddresses.map((text) => {
    const cidr = parseCidr(text);
    if (!cidr) throw new Error(`nodeAddresses: ${JSON.stringify(text)} is not a CIDR`);
    return formatIp(cidr.ip);
  });
  const membership = new Membership({
    nodeName: options.nodeName,
    bind,
    ...(options.port !== undefined ? { port: options.port } : {}),
    secret: options.secret,
    ...(options.intervalMs !== undefined ? { intervalMs: options.intervalMs } : {}),
    ...(options.deadAfterMs !== undefined ? { deadAfterMs: options.deadAfterMs } : {}),
    logger: options.logger,
    ...(options.onHeartbeatEvent ? { onEvent: options.onHeartbeatEvent } : {}),
  });
  let announcer: LoadBalancerAnnouncer | undefined;
  const holder = new HolderAnnouncer({
    net,
    iface: options.iface,
    runner,
    spawnHolder: options.spawnHolder ?? execHolder(),
    logger: options.logger,
    ...(options.arping !== undefined ? { arping: options.arping } : {}),
    ...(options.perl !== undefined ? { perl: options.perl } : {}),
    onHolderLost: () => announcer?.resync(),
  });
  announcer = new LoadBalancerAnnouncer({
    store: options.store,
    nodeName: options.nodeName,
    iface: options.iface,
    nodeAddresses: options.nodeAddresses,
    membership,
    holder,
    logger: options.logger,
    loadBalancerClass: options.loadBalancerClass,
    ...(options.onDiagnostic ? { onDiagnostic: options.onDiagnostic } : {}),
  });
  await membership.start();
  const running = announcer;
  return { announcer: running, membership, holder, markSynced: () => running.markSynced(), stop: () => running.stop() };
}

/** `--cleanup`: deletes the holder link and the proxy NDP entries tagged by this module, nothing else. */
export async function cleanupLoadBalancerAnnouncement(options: { iface: string; logger: Logger; runner?: CommandRunner; net?: NetHost }): Promise<{ link: boolean; proxies: string[] }> {
  const runner = options.runner ?? new ExecCommandRunner();
  const holder = new HolderAnnouncer({
    net: options.net ?? new ExecNetHost({ runner }),
    iface: options.iface,
    runner,
    spawnHolder: () => Promise.reject(new Error('cleanup starts no holder')),
    logger: options.logger,
  });
  return holder.cleanup();
}
