// The node agent's reconcile loop: Nodes in the store → wanted overlay state (routes, VXLAN
// device, neighbours, FDB), compared with what the kernel has on every pass and fixed; the
// masquerade table; forwarding; the CNI conflist for this node's pod subnet. A pass runs shortly
// after any Node change and every syncPeriod (the full reconcile that restores hand edits); a
// failed pass is retried with backoff. Stopping leaves everything in place: pods keep talking
// while the agent restarts.
import { formatIp, parseCidr, type IpFamily, type IpPrefix } from '../lib/cidr.js';
import { PorticoError, type ErrorCode } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { ReconcileLoop } from '../k8s/reconcile-loop.js';
import type { Diagnostic } from '../model/route-model.js';
import type { NftRunner } from '../nft/runner.js';
import { Transaction } from '../nft/transaction.js';
import type { ObjectStore } from '../store/object-store.js';
import { renderNodeConflist } from './cni-conflist.js';
import { describeNetworkOp, diffNetwork } from './diff.js';
import { buildMasqueradeTransaction, masqueradeTable } from './masquerade.js';
import { buildNodeNetworks, type NodeNetwork } from './node-network.js';
import { buildNetworkState, EMPTY_NETWORK, podMtu, type NetworkState, type RouteAgentMode } from './plan.js';
import type { RouteHost, UnderlayInterface } from './route-host.js';

export interface NodeAgentOptions {
  readonly store: ObjectStore;
  readonly host: RouteHost;
  readonly nft: NftRunner;
  readonly logger: Logger;
  readonly nodeName: string;
  readonly mode: RouteAgentMode;
  /** The underlay interface; default the one holding the node's InternalIP. */
  readonly iface?: string;
  readonly clusterCIDRs: readonly IpPrefix[];
  readonly vni: number;
  readonly port: number;
  /** Full reconcile period (10 s). */
  readonly syncPeriodMs: number;
  /** Quiet time after a Node change before a pass (default 50 ms). */
  readonly delayMs?: number;
  /** Writes the conflist when its content changes; undefined: no conflist. */
  readonly writeConflist?: (content: string) => Promise<void>;
  readonly onDiagnostic?: (diagnostic: Diagnostic) => void;
}

export interface NodeAgentStatus {
  /** Date.now() of the last pass that left nothing to fix; 0 before. */
  readonly lastSuccess: number;
  readonly passes: number;
  readonly failedPasses: number;
  /** Changes applied to the kernel since start. */
  readonly changes: number;
  readonly wanted: NetworkState;
  /** The own node as the agent sees it; undefined until its Node is usable. */
  readonly self: NodeNetwork | undefined;
  readonly iface: UnderlayInterface | undefined;
}

export class NodeAgent {
  readonly #options: NodeAgentOptions;
  readonly #loop: ReconcileLoop;
  readonly #unsubscribe: () => void;
  #interval: NodeJS.Timeout | undefined;
  #synced = false;
  #fullDue = true;
  #reported = new Set<string>();
  #appliedMasquerade = new Map<IpFamily, string>();
  #lastConflist: string | undefined;
  #lastSelf: NodeNetwork | undefined;
  #status: NodeAgentStatus = { lastSuccess: 0, passes: 0, failedPasses: 0, changes: 0, wanted: EMPTY_NETWORK, self: undefined, iface: undefined };
  readonly #passListeners = new Set<(ok: boolean) => void>();

  constructor(options: NodeAgentOptions) {
    this.#options = options;
    this.#loop = new ReconcileLoop({ delayMs: options.delayMs ?? 50, canRun: () => this.#synced, pass: () => this.#pass() });
    this.#unsubscribe = options.store.subscribe((change) => {
      if (change.kind === 'Node') this.#loop.schedule();
    });
  }

  get status(): NodeAgentStatus {
    return this.#status;
  }

  /** The source has listed everything once: the first pass may run. */
  markSynced(): void {
    if (this.#synced) return;
    this.#synced = true;
    this.#loop.schedule(0);
    this.#interval = setInterval(() => {
      this.#fullDue = true;
      this.#loop.schedule(0);
    }, this.#options.syncPeriodMs); // ref'd: with a manifest source nothing else keeps the agent alive
  }

  /** Resolves after the next pass (tests, and `--once`-style callers). */
  nextPass(): Promise<boolean> {
    return new Promise((resolve) => {
      const listener = (ok: boolean) => {
        this.#passListeners.delete(listener);
        resolve(ok);
      };
      this.#passListeners.add(listener);
    });
  }

  /** Runs a pass now (the periodic one, as if its timer fired). */
  resync(): void {
    this.#fullDue = true;
    this.#loop.schedule(0);
  }

  async stop(): Promise<void> {
    clearInterval(this.#interval);
    this.#unsubscribe();
    await this.#loop.stop();
  }

  #report(diagnostics: readonly Diagnostic[]): void {
    const current = new Set<string>();
    for (const d of diagnostics) {
      const key = `${d.code} ${d.object.kind}/${d.object.name} ${d.message}`;
      current.add(key);
      if (this.#reported.has(key)) continue;
      this.#options.logger.warn({ code: d.code, object: d.object, field: d.field }, d.message);
      this.#options.onDiagnostic?.(d);
    }
    this.#reported = current;
  }

  #problem(code: ErrorCode, message: string): Diagnostic {
    return { severity: 'error', code, object: { kind: 'Node', name: this.#options.nodeName }, message };
  }

  async #pass(): Promise<boolean> {
    let ok = false;
    try {
      ok = await this.#reconcile();
    } catch (error) {
      this.#options.logger.error({ err: error, code: error instanceof PorticoError ? error.code : undefined }, `node-agent pass failed: ${(error as Error).message}`);
    }
    this.#status = { ...this.#status, passes: this.#status.passes + 1, failedPasses: this.#status.failedPasses + (ok ? 0 : 1), ...(ok && { lastSuccess: Date.now() }) };
    for (const listener of [...this.#passListeners]) listener(ok);
    return ok;
  }

  async #reconcile(): Promise<boolean> {
    const options = this.#options;
    const full = this.#fullDue;
    this.#fullDue = false;
    const { nodes, diagnostics } = buildNodeNetworks({ nodes: options.store.snapshot().nodes.values(), clusterCIDRs: options.clusterCIDRs });
    const problems = [...diagnostics];
    let self = nodes.find((n) => n.name === options.nodeName);
    // This node's Node became unusable (a bad edit) but still exists: keep routing with what it
    // was, rather than tearing down the local device under the pods.
    if (self) this.#lastSelf = self;
    else if (this.#lastSelf && options.store.snapshot().nodes.has(options.nodeName)) self = this.#lastSelf;
    if (!self && !diagnostics.some((d) => d.object.name === options.nodeName)) {
      problems.push(this.#problem('PORTICO_ERR_NODE_AGENT_NODE', `Node ${options.nodeName} (this node, --node-name) is not known yet; no local VXLAN device and no conflist until it is`));
    }
    const iface = await this.#underlay(self);
    if (!iface) {
      problems.push(
        this.#problem(
          'PORTICO_ERR_NODE_AGENT_IFACE',
          options.iface !== undefined ? `interface ${options.iface} (--iface) does not exist` : `no interface holds this node's address${self ? ` (${[...self.addresses.values()].map(formatIp).join(', ')})` : ''}; set --iface`,
        ),
      );
      this.#report(problems);
      this.#status = { ...this.#status, self, iface };
      return false;
    }
    const wanted = buildNetworkState({ mode: options.mode, self, selfName: options.nodeName, nodes, iface, vni: options.vni, port: options.port });
    const families = [...new Set(options.clusterCIDRs.map((c) => c.ip.family))];
    try {
      await options.host.ensureForwarding(families);
    } catch (error) {
      // A read-only /proc/sys (an unprivileged container): the node's setup usually has it on.
      problems.push(this.#problem('PORTICO_ERR_NODE_AGENT_APPLY', `cannot turn IP forwarding on: ${(error as Error).message}; pods on other nodes are unreachable unless it is on`));
    }
    this.#report(problems);
    const observed = await options.host.observe();
    const ops = diffNetwork(wanted, observed);
    const failures = ops.length > 0 ? await options.host.apply(ops) : [];
    const applied = ops.length - failures.length;
    if (ops.length > 0) {
      options.logger.info({ changes: ops.map(describeNetworkOp), failed: failures.length }, `node-agent: ${applied} change(s) applied${failures.length > 0 ? `, ${failures.length} failed` : ''}`);
    }
    for (const failure of failures) {
      options.logger.warn({ code: 'PORTICO_ERR_NODE_AGENT_APPLY', change: describeNetworkOp(failure.op) }, `node-agent: ${failure.message}`);
    }
    await this.#syncMasquerade(full);
    if (self && options.writeConflist) {
      const content = renderNodeConflist({ podCIDRs: self.podCIDRs, mtu: podMtu(options.mode, iface, self.addresses.has(4) ? 4 : 6) });
      if (content !== this.#lastConflist) {
        await options.writeConflist(content);
        this.#lastConflist = content;
      }
    }
    this.#status = { ...this.#status, changes: this.#status.changes + applied, wanted, self, iface };
    return failures.length === 0;
  }

  async #underlay(self: NodeNetwork | undefined): Promise<UnderlayInterface | undefined> {
    const interfaces = await this.#options.host.interfaces();
    if (this.#options.iface !== undefined) return interfaces.find((i) => i.name === this.#options.iface);
    if (!self) return undefined;
    const wanted = [...self.addresses.values()];
    return interfaces.find((i) =>
      i.addresses.some((text) => {
        const cidr = parseCidr(text);
        return cidr !== undefined && wanted.some((ip) => ip.family === cidr.ip.family && ip.value === cidr.ip.value);
      }),
    );
  }

  async #syncMasquerade(full: boolean): Promise<void> {
    for (const family of [4, 6] as const) {
      const tx = buildMasqueradeTransaction(family, this.#options.clusterCIDRs);
      const text = tx?.render() ?? '';
      if (!full && this.#appliedMasquerade.get(family) === text) continue;
      if (tx) await this.#options.nft.run(tx);
      else if ((await this.#options.nft.listTable(masqueradeTable(family))) !== undefined) await this.#options.nft.run(new Transaction(masqueradeTable(family)).deleteTable());
      this.#appliedMasquerade.set(family, text);
    }
  }
}

/** `--cleanup`: removes the agent's devices, routes and tables (what it owns, nothing else). */
export async function cleanupNodeNetwork(options: { host: RouteHost; nft: NftRunner }): Promise<string[]> {
  const removed: string[] = [];
  const observed = await options.host.observe();
  const ops = diffNetwork(EMPTY_NETWORK, observed);
  const failures = await options.host.apply(ops);
  if (failures.length > 0) throw new PorticoError('PORTICO_ERR_NODE_AGENT_APPLY', `cleanup: ${failures.map((f) => f.message).join('; ')}`);
  removed.push(...ops.map(describeNetworkOp));
  for (const family of [4, 6] as const) {
    const table = masqueradeTable(family);
    if ((await options.nft.listTable(table)) === undefined) continue;
    await options.nft.run(new Transaction(table).deleteTable());
    removed.push(`remove nft table ${table.family} ${table.name}`);
  }
  return removed;
}
