// Makes the kernel answer ARP (and NDP) on the underlay interface for the LoadBalancer addresses
// this node owns, for as long as the agent process lives.
//
// IPv4: with the default arp_ignore=0 Linux answers ARP on any interface for any local address. The
// owned addresses are /32s on a holder link `portico-lb`: one end of a veth pair whose other end
// lives in a network namespace owned by a tiny child process (`unshare --net sh -c 'read _'`) whose
// stdin is a pipe from the agent. When the agent dies — even by SIGKILL — the pipe closes, the
// child exits, its namespace is destroyed, the veth pair goes and the addresses (and the local
// routes the kernel made for them) vanish with it. No stale ARP answers survive the agent.
//
// IPv6: the kernel answers neighbour solicitations only for addresses on the receiving interface,
// so the address goes on the holder link (local delivery) and a proxy NDP entry on the underlay
// interface (`proxy_ndp=1`; the kernel answers proxied solicitations only while the interface has
// forwarding=1; and `proxy_delay=0`, or it waits up to 0.8 s before each answer). Proxy entries
// live in the node's namespace, not the holder's: the holder's shell deletes those tagged with
// PROXY_NEIGH_PROTOCOL when its stdin closes, which covers a SIGKILLed agent process, but not a
// kill of the whole container or cgroup, which takes the shell too. Then they last until the
// agent starts again (ensureHolder removes stale ones) or runs `--cleanup`.
//
// Takeover: a gratuitous ARP (`arping -U`, package iputils-arping) for each newly owned IPv4
// address, and an unsolicited neighbour advertisement with the override flag for each IPv6 one,
// so neighbours' caches move at once. No Debian tool sends such an NA, so a few lines of perl do
// (perl-base is Essential in Debian; its Socket module opens the raw ICMPv6 socket).
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { formatIp, parseIp } from '../lib/cidr.js';
import { PorticoError } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { CommandError, type CommandRunner } from '../lib/run-command.js';
import type { NetHost } from '../host/net-host.js';
import type { Link, NetChange } from '../host/net-types.js';

export const HOLDER_LINK = 'portico-lb';
/** The veth end inside the holder's namespace. */
export const HOLDER_PEER = 'holder0';
/** Routing protocol number tagging the proxy NDP entries this module creates (cleanup deletes only these). */
export const PROXY_NEIGH_PROTOCOL = 80;

/**
 * Sends, for each target, two unsolicited neighbour advertisements (RFC 4861 7.2.6: override set,
 * solicited clear, target link-layer address option) to ff02::1 on the interface, hop limit 255.
 * The kernel fills in the ICMPv6 checksum of raw ICMPv6 sockets. Arguments: IFINDEX MAC TARGET…
 */
export const UNSOLICITED_NA_SCRIPT = [
  'use strict; use Socket qw(AF_INET6 SOCK_RAW IPPROTO_IPV6 IPV6_MULTICAST_HOPS IPV6_MULTICAST_IF inet_pton pack_sockaddr_in6);',
  'my ($index, $mac, @targets) = @ARGV;',
  'socket(my $s, AF_INET6, SOCK_RAW, 58) or die "raw ICMPv6 socket: $!\n";',
  'setsockopt($s, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, pack("i", 255)) or die "hops: $!\n";',
  'setsockopt($s, IPPROTO_IPV6, IPV6_MULTICAST_IF, pack("i", $index)) or die "interface: $!\n";',
  '(my $hex = $mac) =~ s/://g; my $ll = pack("H12", $hex);',
  'my $to = pack_sockaddr_in6(0, inet_pton(AF_INET6, "ff02::1"), $index);',
  'for my $round (1, 2) { for my $t (@targets) {',
  '  my $target = inet_pton(AF_INET6, $t) or die "bad address $t\n";',
  '  send($s, pack("CCnN", 136, 0, 0, 0x20000000) . $target . pack("CC", 2, 1) . $ll, 0, $to) or die "send: $!\n";',
  '} select(undef, undef, undef, 0.2) if $round == 1; }',
].join('\n');

/** The child process whose network namespace carries the holder link's peer. */
export interface HolderProcess {
  /** The holder's network namespace, e.g. `/proc/1234/ns/net`. */
  readonly netns: string;
  /** Resolves when the holder has exited. */
  readonly exited: Promise<void>;
  /** Closes its stdin: it exits and its namespace (with the veth pair) goes. */
  close(): void;
}

export type SpawnHolder = () => Promise<HolderProcess>;

// Positional parameters: $1 unshare, $2 ip, $3 the proxy protocol. fd 0 is the agent's pipe; the
// inner shell reads it too, so both see EOF when the agent goes. `ready` is printed from inside the
// new namespace, so /proc/PID/ns/net is the new one by the time the agent reads it; `gone` says
// the inner one ended (at once when unshare fails: not installed, no CAP_SYS_ADMIN).
const HOLDER_SCRIPT = [
  'exec 3<&0',
  '( "$1" --net sh -c \'echo "ready $$"; read _ || true\' <&3; echo "gone $?" ) &',
  'read _ || true',
  // The agent is gone (or stopping): drop the proxy NDP entries it made, in this (the node's) netns.
  '"$2" -6 neigh show proxy proto "$3" 2>/dev/null | while read -r addr _dev ifname _rest; do',
  '  "$2" -6 neigh del proxy "$addr" dev "$ifname" 2>/dev/null',
  'done',
  'wait',
].join('\n');

/** Spawns the real holder: `sh` (in this namespace) → `unshare --net sh` (in a new one). */
export function execHolder(options: { unshare?: string; ip?: string; sh?: string; timeoutMs?: number } = {}): SpawnHolder {
  return () =>
    new Promise<HolderProcess>((resolve, reject) => {
      const child = spawn(options.sh ?? '/bin/sh', ['-c', HOLDER_SCRIPT, 'portico-lb-holder', options.unshare ?? 'unshare', options.ip ?? 'ip', String(PROXY_NEIGH_PROTOCOL)], {
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      let settled = false;
      const exited = new Promise<void>((done) => child.once('close', () => done()));
      const fail = (message: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        child.stdin!.end();
        child.kill('SIGKILL');
        reject(new Error(message));
      };
      const timer = setTimeout(() => fail(`the holder process was not ready within ${options.timeoutMs ?? 10_000} ms: ${err.trim() || 'no output'}`), options.timeoutMs ?? 10_000);
      child.stdin!.on('error', () => {});
      child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
      child.stdout!.on('data', (chunk: Buffer) => {
        if (settled) return;
        out += chunk.toString();
        if (/^gone /m.test(out) && !/ready \d+/.test(out)) return fail(`the holder process failed: ${err.trim() || out.trim()}`);
        const pid = /ready (\d+)/.exec(out)?.[1];
        if (!pid) return;
        settled = true;
        clearTimeout(timer);
        resolve({ netns: `/proc/${pid}/ns/net`, exited, close: () => child.stdin!.end() });
      });
      child.once('error', (error) => fail(error.message));
      void exited.then(() => fail(`the holder process exited before it was ready: ${err.trim() || 'no output'}`));
    });
}

export interface AnnouncerOptions {
  net: NetHost;
  /** The underlay interface (the one holding the node's InternalIP). */
  iface: string;
  runner: CommandRunner;
  spawnHolder: SpawnHolder;
  logger: Logger;
  /** Default `arping`. */
  arping?: string;
  /** Default `ip` (for listing proxy NDP entries). */
  ip?: string;
  /** Gratuitous ARPs per takeover, one second apart (arping -c). Default 2. */
  garpCount?: number;
  /** Runs UNSOLICITED_NA_SCRIPT; default `perl`. */
  perl?: string;
  /** `net/ipv4/conf/all/arp_ignore` → value; default reads /proc/sys. */
  readSysctl?: (key: string) => Promise<string | undefined>;
  /** The holder exited on its own: every announcement is gone. The owner should sync again. */
  onHolderLost?: () => void;
}

export interface SyncResult {
  added: string[];
  removed: string[];
}

async function procSysctl(key: string): Promise<string | undefined> {
  try {
    return (await readFile(`/proc/sys/${key}`, 'utf8')).trim();
  } catch {
    return undefined;
  }
}

function canonical(ip: string): { text: string; family: 4 | 6 } {
  const parsed = parseIp(ip);
  if (!parsed) throw new PorticoError('PORTICO_ERR_ANNOUNCE_APPLY', `${JSON.stringify(ip)} is not an IP address`);
  return { text: formatIp(parsed), family: parsed.family };
}

/** The addresses on the holder link and the proxy NDP entries for them; see the file comment. */
export class HolderAnnouncer {
  readonly #o: AnnouncerOptions;
  readonly #readSysctl: (key: string) => Promise<string | undefined>;
  #holder: HolderProcess | undefined;
  /** What is announced now (canonical text). */
  readonly #announced = new Set<string>();
  #chain: Promise<unknown> = Promise.resolve();
  #warned = new Set<string>();
  #pendingGarps = new Set<Promise<void>>();

  constructor(options: AnnouncerOptions) {
    this.#o = options;
    this.#readSysctl = options.readSysctl ?? procSysctl;
  }

  /** Announced addresses, sorted as strings. */
  announced(): string[] {
    return [...this.#announced].sort();
  }

  /** Starts the holder and its link if they are not there (idempotent). Removes stale proxy entries at first start. */
  ensureHolder(): Promise<void> {
    return this.#serial(() => this.#ensureHolder());
  }

  /** Makes the announced set exactly `ips` (IPv4 and IPv6); gratuitous ARP for new IPv4 ones. */
  sync(ips: readonly string[]): Promise<SyncResult> {
    return this.#serial(() => this.#sync(ips));
  }

  /** SIGTERM: drops every announcement at once (deletes the link, closes the holder). */
  withdrawAll(): Promise<void> {
    return this.#serial(async () => {
      this.#announced.clear();
      const holder = this.#holder;
      this.#holder = undefined;
      try {
        await this.#o.net.namespace().deleteLink(HOLDER_LINK).catch((error: Error) => this.#applyFailed('withdraw', error));
        await this.#removeStaleProxies().catch((error: Error) => this.#applyFailed('withdraw', error));
      } finally {
        holder?.close();
      }
      if (holder) await holder.exited;
    });
  }

  /** Waits for gratuitous ARPs in flight (tests, shutdown). */
  async idle(): Promise<void> {
    await this.#chain.catch(() => {});
    await Promise.all(this.#pendingGarps);
  }

  /** `--cleanup`: removes the holder link and the proxy NDP entries this module tagged; nothing else. */
  cleanup(): Promise<{ link: boolean; proxies: string[] }> {
    return this.#serial(async () => {
      const link = await this.#o.net.namespace().deleteLink(HOLDER_LINK);
      const proxies = await this.#removeStaleProxies();
      return { link, proxies };
    });
  }

  #serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#chain.then(task, task);
    this.#chain = run.catch(() => {});
    return run;
  }

  async #ensureHolder(): Promise<void> {
    if (this.#holder) return;
    const ns = this.#o.net.namespace();
    // A link left by a previous instance (still going away, or another agent's): start clean.
    await ns.deleteLink(HOLDER_LINK).catch(() => false);
    await this.#removeStaleProxies();
    this.#announced.clear();
    await this.#checkArp();
    let holder: HolderProcess;
    try {
      holder = await this.#o.spawnHolder();
    } catch (error) {
      throw new PorticoError('PORTICO_ERR_ANNOUNCE_APPLY', `cannot start the holder process (is unshare installed?): ${(error as Error).message}`, { cause: error });
    }
    try {
      await ns.apply([{ op: 'create-veth', name: HOLDER_LINK, peerName: HOLDER_PEER, peerNetns: holder.netns }]);
      await this.#o.net.namespace(holder.netns).apply([{ op: 'set-up', name: HOLDER_PEER }]);
      await ns.apply([
        // IPv6 on (a host may default new links to disable_ipv6=1), but no router solicitations or SLAAC.
        { op: 'sysctl', key: `net/ipv6/conf/${HOLDER_LINK}/disable_ipv6`, value: '0', optional: true },
        { op: 'sysctl', key: `net/ipv6/conf/${HOLDER_LINK}/accept_ra`, value: '0', optional: true },
        { op: 'set-up', name: HOLDER_LINK },
      ]);
    } catch (error) {
      holder.close();
      throw new PorticoError('PORTICO_ERR_ANNOUNCE_APPLY', `cannot create the holder link ${HOLDER_LINK}: ${(error as Error).message}`, { cause: error });
    }
    this.#holder = holder;
    void holder.exited.then(() => {
      if (this.#holder !== holder) return; // closed on purpose
      this.#holder = undefined;
      this.#announced.clear();
      this.#o.logger.warn({ code: 'PORTICO_ERR_ANNOUNCE_APPLY' }, `the holder process of ${HOLDER_LINK} exited: every announcement is gone until the next sync`);
      this.#o.onHolderLost?.();
    });
  }

  async #sync(wanted: readonly string[]): Promise<SyncResult> {
    await this.#ensureHolder();
    const want = new Map(wanted.map((ip) => canonical(ip)).map((ip) => [ip.text, ip.family]));
    const ns = this.#o.net.namespace();
    let link = await ns.lookupLink(HOLDER_LINK);
    if (!link) {
      // Deleted under us (by hand, or by another program): start a new holder.
      this.#o.logger.warn({ code: 'PORTICO_ERR_ANNOUNCE_APPLY' }, `the holder link ${HOLDER_LINK} has gone: creating it again`);
      const holder = this.#holder;
      this.#holder = undefined;
      holder?.close();
      await this.#ensureHolder();
      link = await ns.lookupLink(HOLDER_LINK);
      if (!link) throw new PorticoError('PORTICO_ERR_ANNOUNCE_APPLY', `the holder link ${HOLDER_LINK} has gone`);
    }
    const present = new Set(
      link.addresses
        .filter((a) => a.scope !== 'link')
        .map((a) => a.cidr.split('/')[0]!)
        .map((ip) => canonical(ip).text),
    );
    const added = [...want.keys()].filter((ip) => !present.has(ip));
    const removed = [...present].filter((ip) => !want.has(ip));
    const changes: NetChange[] = [];
    const iface = this.#o.iface;
    if ([...want.values()].includes(6)) {
      // Optional: a read-only /proc/sys (an unprivileged container) is a warning below, not a failure.
      changes.push({ op: 'sysctl', key: `net/ipv6/conf/${iface}/proxy_ndp`, value: '1', optional: true });
      // The kernel delays proxied answers to multicast solicitations by up to proxy_delay (0.8 s)
      // (RFC 4861's anycast delay); an owner is the only answer, so answer at once.
      changes.push({ op: 'sysctl', key: `net/ipv6/neigh/${iface}/proxy_delay`, value: '0', optional: true });
    }
    for (const ip of removed) changes.push({ op: 'del-addr', dev: HOLDER_LINK, cidr: ip.includes(':') ? `${ip}/128` : `${ip}/32` });
    for (const ip of added) changes.push({ op: 'add-addr', dev: HOLDER_LINK, cidr: want.get(ip) === 6 ? `${ip}/128` : `${ip}/32`, noDad: true });
    // Proxy entries are compared with what the kernel has (tagged ones), not with the link: one
    // left behind by a failed change, or removed by hand, is fixed on the next sync.
    const proxies = await this.#listOwnProxies();
    const want6 = new Set([...want].filter(([, family]) => family === 6).map(([ip]) => ip));
    for (const p of proxies) if (p.dev !== iface || !want6.has(p.ip)) changes.push({ op: 'del-proxy-neigh', ip: p.ip, dev: p.dev });
    for (const ip of want6) if (!proxies.some((p) => p.ip === ip && p.dev === iface)) changes.push({ op: 'add-proxy-neigh', ip, dev: iface, protocol: PROXY_NEIGH_PROTOCOL });
    if (changes.length > 0) {
      try {
        await ns.apply(changes);
      } catch (error) {
        // Some changes may have gone through: the next sync reads the link again.
        for (const ip of removed) this.#announced.delete(ip);
        throw new PorticoError('PORTICO_ERR_ANNOUNCE_APPLY', `cannot update ${HOLDER_LINK}: ${(error as Error).message}`, { cause: error });
      }
    }
    this.#announced.clear();
    for (const ip of want.keys()) this.#announced.add(ip);
    if ([...want.values()].includes(6)) await this.#checkIpv6();
    await this.#advertise(added);
    return { added, removed };
  }

  /**
   * Gratuitous ARP / unsolicited NA again for addresses that stay announced: a node that held one
   * while this one was out of reach (a partition) has neighbours pointing at it.
   */
  reannounce(ips: readonly string[]): Promise<void> {
    return this.#serial(() => this.#advertise(ips.map((ip) => canonical(ip).text).filter((ip) => this.#announced.has(ip))));
  }

  async #advertise(ips: readonly string[]): Promise<void> {
    for (const ip of ips) if (!ip.includes(':')) this.#garp(ip);
    const v6 = ips.filter((ip) => ip.includes(':'));
    if (v6.length > 0) this.#unsolicitedNa(v6, await this.#o.net.namespace().lookupLink(this.#o.iface).catch(() => undefined));
  }

  #garp(ip: string): void {
    const arping = this.#o.arping ?? 'arping';
    const task = this.#o.runner
      .run({ command: arping, args: ['-q', '-U', '-c', String(this.#o.garpCount ?? 2), '-I', this.#o.iface, ip], timeoutMs: 10_000 })
      .then(
        (result) => {
          // iputils arping exits 1 in -U mode when no reply came, which is the normal case.
          if (result.code > 1) this.#o.logger.warn({ code: 'PORTICO_ERR_ANNOUNCE_APPLY', ip, stderr: result.stderr.trim() }, 'gratuitous ARP failed');
        },
        (error: Error) => {
          if (error instanceof CommandError && error.errno === 'ENOENT') {
            this.#warnOnce('arping', `${arping} is not installed (apt-get install iputils-arping): no gratuitous ARP on takeover, neighbours move when their ARP entry expires`);
          } else {
            this.#o.logger.warn({ code: 'PORTICO_ERR_ANNOUNCE_APPLY', ip, err: error.message }, 'gratuitous ARP failed');
          }
        },
      );
    this.#pendingGarps.add(task);
    void task.finally(() => this.#pendingGarps.delete(task));
  }

  #unsolicitedNa(ips: readonly string[], link: Link | undefined): void {
    const mac = link?.mac ?? '';
    if (!link || !/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(mac)) {
      this.#warnOnce('na-mac', `${this.#o.iface} has no Ethernet address: no unsolicited neighbour advertisement on takeover`);
      return;
    }
    const perl = this.#o.perl ?? 'perl';
    const task = this.#o.runner
      .run({ command: perl, args: ['-e', UNSOLICITED_NA_SCRIPT, String(link.index), mac, ...ips], timeoutMs: 10_000 })
      .then(
        (result) => {
          if (result.code !== 0) this.#o.logger.warn({ code: 'PORTICO_ERR_ANNOUNCE_APPLY', ips, stderr: result.stderr.trim() }, 'unsolicited neighbour advertisement failed');
        },
        (error: Error) => {
          if (error instanceof CommandError && error.errno === 'ENOENT') {
            this.#warnOnce('perl', `${perl} is not installed: no unsolicited neighbour advertisement on takeover, IPv6 neighbours move when their entry for the old owner fails`);
          } else {
            this.#o.logger.warn({ code: 'PORTICO_ERR_ANNOUNCE_APPLY', ips, err: error.message }, 'unsolicited neighbour advertisement failed');
          }
        },
      );
    this.#pendingGarps.add(task);
    void task.finally(() => this.#pendingGarps.delete(task));
  }

  /** Proxy NDP entries tagged PROXY_NEIGH_PROTOCOL, addresses canonical. */
  async #listOwnProxies(): Promise<Array<{ ip: string; dev: string }>> {
    const result = await this.#o.runner
      .run({ command: this.#o.ip ?? 'ip', args: ['-j', '-6', 'neigh', 'show', 'proxy', 'proto', String(PROXY_NEIGH_PROTOCOL)] })
      .catch(() => undefined);
    if (!result || result.code !== 0 || result.stdout.trim() === '') return [];
    let entries: Array<{ dst?: unknown; dev?: unknown }>;
    try {
      entries = JSON.parse(result.stdout) as Array<{ dst?: unknown; dev?: unknown }>;
    } catch {
      return [];
    }
    return entries.flatMap((e) => {
      const ip = typeof e.dst === 'string' ? parseIp(e.dst) : undefined;
      return ip && typeof e.dev === 'string' ? [{ ip: formatIp(ip), dev: e.dev }] : [];
    });
  }

  async #removeStaleProxies(): Promise<string[]> {
    const proxies = await this.#listOwnProxies();
    if (proxies.length > 0) await this.#o.net.namespace().apply(proxies.map((p): NetChange => ({ op: 'del-proxy-neigh', ip: p.ip, dev: p.dev })));
    return proxies.map((p) => `${p.ip} dev ${p.dev}`);
  }

  async #checkArp(): Promise<void> {
    const values = await Promise.all([`net/ipv4/conf/all/arp_ignore`, `net/ipv4/conf/${this.#o.iface}/arp_ignore`].map((key) => this.#readSysctl(key)));
    const max = Math.max(...values.map((v) => Number(v ?? '0') || 0));
    if (max !== 0) {
      this.#warnOnce('arp_ignore', `arp_ignore is ${max} on ${this.#o.iface}: the kernel does not answer ARP there for addresses on ${HOLDER_LINK}, so IPv4 LoadBalancer addresses are not reachable (set net.ipv4.conf.all.arp_ignore=0 and net.ipv4.conf.${this.#o.iface}.arp_ignore=0)`);
    }
  }

  async #checkIpv6(): Promise<void> {
    const iface = this.#o.iface;
    const [proxyAll, proxyIface] = await Promise.all([this.#readSysctl('net/ipv6/conf/all/proxy_ndp'), this.#readSysctl(`net/ipv6/conf/${iface}/proxy_ndp`)]);
    if (proxyAll !== '1' && proxyIface !== '1') {
      this.#warnOnce('proxy_ndp', `proxy_ndp is off on ${iface} and cannot be set (read-only /proc/sys?): IPv6 LoadBalancer addresses are not answered (set net.ipv6.conf.${iface}.proxy_ndp=1)`);
    }
    const value = await this.#readSysctl(`net/ipv6/conf/${iface}/forwarding`);
    if (value !== '1') {
      this.#warnOnce('forwarding', `IPv6 forwarding is off on ${this.#o.iface}: the kernel answers proxy NDP only on forwarding interfaces, so IPv6 LoadBalancer addresses are not reachable (set net.ipv6.conf.${this.#o.iface}.forwarding=1)`);
    }
  }

  #warnOnce(key: string, message: string): void {
    if (this.#warned.has(key)) return;
    this.#warned.add(key);
    this.#o.logger.warn({ code: 'PORTICO_ERR_ANNOUNCE_CONFIG' }, message);
  }

  #applyFailed(what: string, error: Error): void {
    this.#o.logger.warn({ code: 'PORTICO_ERR_ANNOUNCE_APPLY', err: error.message }, `${what} failed`);
  }
}
