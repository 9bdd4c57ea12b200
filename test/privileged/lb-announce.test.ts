import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rendezvousScore } from '../../src/lb-announce/elect.js';
import { HOLDER_LINK, PROXY_NEIGH_PROTOCOL } from '../../src/lb-announce/announcer.js';
import { exec, ipJson, mustExec, REPO, Sandbox, SKIP_REASON, SYSTEM_PATH } from './helpers.js';

// LoadBalancer L2 announcement end to end: an underlay bridge in a namespace of its own, three node
// namespaces and an outside client on it, and one announcement agent per node running as a real
// process inside its node namespace (lb-announce-agent.mjs), so SIGKILL really kills the agent.
// Every node DNATs LB:80 to its own :8080 in nft prerouting (as service-proxy does), where the
// agent answers with its node name: the outside client sees which node the address reaches.
// Waits are polls bounded by generous limits; nothing asserts how long anything took.

const AGENT = join(import.meta.dirname, 'lb-announce-agent.mjs');
const has = (tool: string) => SYSTEM_PATH.split(':').some((dir) => existsSync(join(dir, tool)));
const LB_SKIP =
  SKIP_REASON ??
  (!has('arping') ? 'missing arping (apt-get install iputils-arping; .ci/run does it)' : undefined) ??
  (!has('unshare') ? 'missing unshare (apt-get install util-linux)' : undefined) ??
  (!existsSync(join(REPO, 'dist', 'lb-announce', 'lb-announcer.js')) ? 'dist/ has no lb-announce (npm run build; npm test does it)' : undefined);
const title = (t: string) => (LB_SKIP ? `${t} (skipped: ${LB_SKIP})` : t);

const LB4 = '10.40.0.100';
const NAMES = ['node-1', 'node-2', 'node-3'];
const HTTP_PORT = 8080;
const HB_PORT = 7946;

interface Agent {
  name: string;
  child: ChildProcess;
  events: Array<Record<string, unknown>>;
  exited: Promise<number | null>;
  stderr: string;
}

const sandbox = new Sandbox();
const ns: Record<string, string> = {};
const agents = new Map<string, Agent>();
let secretDir = '';

const ownerOf = (ip: string, names: readonly string[]) => [...names].sort((a, b) => (rendezvousScore(ip, b) > rendezvousScore(ip, a) ? 1 : -1))[0]!;
/** An IPv6 address that moves with LB4 on both takeovers, so each one checks both families. */
const LB6 = (() => {
  const rest = NAMES.filter((n) => n !== ownerOf(LB4, NAMES));
  for (let i = 0x100; i < 0x200; i++) {
    const ip = `fd40::${i.toString(16)}`;
    if (ownerOf(ip, NAMES) === ownerOf(LB4, NAMES) && ownerOf(ip, rest) === ownerOf(LB4, rest)) return ip;
  }
  throw new Error('no such address');
})();
const v4 = (i: number) => `10.40.0.${11 + i}`;
const v6 = (i: number) => `fd40::${11 + i}`;

function objects(): unknown[] {
  return [
    ...NAMES.map((name, i) => ({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name },
      status: { addresses: [{ type: 'InternalIP', address: v4(i) }, { type: 'InternalIP', address: v6(i) }] },
    })),
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web', namespace: 'default' },
      spec: { type: 'LoadBalancer', ports: [{ port: 80, protocol: 'TCP' }], ipFamilies: ['IPv4', 'IPv6'] },
      status: { loadBalancer: { ingress: [{ ip: LB4 }, { ip: LB6 }] } },
    },
  ];
}

async function startAgent(name: string): Promise<Agent> {
  const i = NAMES.indexOf(name);
  const config = {
    nodeName: name,
    iface: 'eth0',
    nodeAddresses: [`${v4(i)}/24`, `${v6(i)}/64`],
    port: HB_PORT,
    secretFile: join(secretDir, 'secret'),
    intervalMs: 200,
    deadAfterMs: 700,
    httpPort: HTTP_PORT,
    objects: objects(),
  };
  const child = spawn('ip', ['netns', 'exec', ns[name]!, process.execPath, AGENT, JSON.stringify(config)], { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PATH: `${SYSTEM_PATH}:${process.env['PATH'] ?? ''}` } });
  const agent: Agent = { name, child, events: [], stderr: '', exited: new Promise((resolve) => child.once('close', (code) => resolve(code))) };
  let buffer = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    let nl;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      agent.events.push(JSON.parse(buffer.slice(0, nl)) as Record<string, unknown>);
      buffer = buffer.slice(nl + 1);
    }
  });
  child.stderr!.on('data', (chunk: Buffer) => (agent.stderr += chunk.toString()));
  agents.set(name, agent);
  await until(() => agent.events.some((e) => e['event'] === 'ready'), `${name} ready`, agent);
  return agent;
}

async function until(check: () => boolean | Promise<boolean>, what: string, agent?: Agent, limit = 200): Promise<void> {
  for (let i = 0; i < limit; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for ${what}${agent ? `; ${agent.name} stderr:\n${agent.stderr}` : ''}`);
}

/** The agent and every process it started (its holder): what a container kill does. */
function killGroup(agent: Agent): void {
  try {
    process.kill(-agent.child.pid!, 'SIGKILL');
  } catch {
    // already gone
  }
}

const lastAnnounced = (agent: Agent) => (agent.events.filter((e) => e['event'] === 'announced').at(-1)?.['ips'] as string[] | undefined) ?? [];
const lastLive = (agent: Agent) => (agent.events.filter((e) => e['event'] === 'live').at(-1)?.['nodes'] as string[] | undefined) ?? [];

/** The node name answering on LB:80 from the outside (through the owner's DNAT), or undefined. */
async function reach(ip: string, port = 80): Promise<string | undefined> {
  const script = `const s=require('net').connect({host:${JSON.stringify(ip)},port:${port}});let d='';s.setTimeout(700,()=>{s.destroy();process.exit(2)});s.on('data',c=>d+=c);s.on('end',()=>{process.stdout.write(d.trim());process.exit(0)});s.on('error',()=>process.exit(1));`;
  const result = await exec('ip', ['netns', 'exec', ns['out']!, process.execPath, '-e', script]);
  return result.code === 0 ? result.stdout : undefined;
}

/**
 * reach() until it answers `expected`, at most `tries` times, 250 ms apart after a miss (the client's
 * neighbour entry may still name the old holder's MAC for a moment after a takeover, longer on a
 * loaded machine: ten back-to-back tries once all failed within a second in CI); the last answer.
 */
async function reachAgain(ip: string, expected: string, tries = 20): Promise<string | undefined> {
  let answer: string | undefined;
  for (let i = 0; i < tries && answer !== expected; i++) {
    if (i > 0) await new Promise((resolve) => setTimeout(resolve, 250));
    answer = await reach(ip);
  }
  return answer;
}

async function holderAddresses(name: string): Promise<string[]> {
  const links = (await ipJson(ns[name]!, ['addr', 'show'])) as Array<{ ifname: string; addr_info: Array<{ local: string; scope: string }> }>;
  return links.filter((l) => l.ifname === HOLDER_LINK).flatMap((l) => l.addr_info.filter((a) => a.scope !== 'link').map((a) => a.local));
}

async function proxies(name: string): Promise<string[]> {
  const entries = (await ipJson(ns[name]!, ['-6', 'neigh', 'show', 'proxy', 'proto', String(PROXY_NEIGH_PROTOCOL)])) as Array<{ dst: string }>;
  return entries.map((e) => e.dst);
}

async function macOf(name: string): Promise<string> {
  const [link] = (await ipJson(ns[name]!, ['link', 'show', 'eth0'])) as Array<{ address: string }>;
  return link!.address;
}

async function outsideNeighbour(ip: string): Promise<string | undefined> {
  const entries = (await ipJson(ns['out']!, ['neigh', 'show', ip])) as Array<{ lladdr?: string }>;
  return entries[0]?.lladdr;
}

describe.skipIf(LB_SKIP !== undefined)('LoadBalancer L2 announcement in node namespaces', () => {
  beforeAll(async () => {
    secretDir = await mkdtemp(join(tmpdir(), 'portico-lb-'));
    await writeFile(join(secretDir, 'secret'), 'privileged-test-secret\n');
    const ul = (await sandbox.netns('ul')).name;
    await mustExec('ip', ['-n', ul, 'link', 'add', 'br0', 'type', 'bridge']);
    await mustExec('ip', ['-n', ul, 'link', 'set', 'br0', 'up']);
    const wire = async (key: string, addrs: string[]) => {
      const name = (await sandbox.netns(key)).name;
      ns[key] = name;
      const port = sandbox.name(key).slice(-15);
      await mustExec('ip', ['link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', name]);
      await mustExec('ip', ['link', 'set', port, 'netns', ul]);
      await mustExec('ip', ['-n', ul, 'link', 'set', port, 'master', 'br0', 'up']);
      await mustExec('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
      await mustExec('ip', ['-n', name, 'link', 'set', 'eth0', 'up']);
      for (const a of addrs) await mustExec('ip', ['-n', name, 'addr', 'add', a, 'dev', 'eth0', ...(a.includes(':') ? ['nodad'] : [])]);
    };
    await wire('out', ['10.40.0.5/24', 'fd40::5/64']);
    for (const [i, name] of NAMES.entries()) {
      await wire(name, [`${v4(i)}/24`, `${v6(i)}/64`]);
      // Proxy NDP answers only on forwarding interfaces (IPv6 nodes with pods forward anyway).
      await mustExec('ip', ['netns', 'exec', ns[name]!, 'sysctl', '-qw', 'net.ipv6.conf.eth0.forwarding=1']);
      // What service-proxy does for a LoadBalancer address: DNAT in prerouting, keyed on the destination.
      await mustExec('ip', ['netns', 'exec', ns[name]!, 'nft', '-f', '-'], [
        'table ip lbtest { chain pre { type nat hook prerouting priority -100; ip daddr ' + LB4 + ` tcp dport 80 dnat to ${v4(i)}:${HTTP_PORT}; }; }`,
        'table ip6 lbtest { chain pre { type nat hook prerouting priority -100; ip6 daddr ' + LB6 + ` tcp dport 80 dnat to [${v6(i)}]:${HTTP_PORT}; }; }`,
      ].join('\n'));
    }
    for (const name of NAMES) await startAgent(name);
  });

  afterAll(async () => {
    for (const agent of agents.values()) killGroup(agent);
    await Promise.all([...agents.values()].map((a) => a.exited));
    await sandbox.cleanup();
    if (secretDir) await rm(secretDir, { recursive: true, force: true });
  });

  let owner4 = '';
  let owner6 = '';

  it(title('exactly one node answers for each address: the one the election picks'), async () => {
    for (const agent of agents.values()) await until(() => lastLive(agent).length === 3, `${agent.name} sees 3 live nodes`, agent);
    owner4 = ownerOf(LB4, NAMES);
    owner6 = ownerOf(LB6, NAMES);
    for (const agent of agents.values()) {
      const expected = [owner4 === agent.name ? LB4 : undefined, owner6 === agent.name ? LB6 : undefined].filter((x) => x !== undefined).sort();
      await until(() => JSON.stringify(lastAnnounced(agent)) === JSON.stringify(expected), `${agent.name} announces ${expected}`, agent);
      expect((await holderAddresses(agent.name)).sort()).toEqual(expected);
      expect(await proxies(agent.name)).toEqual(owner6 === agent.name ? [LB6] : []);
    }
    // ARP from outside: answered, by the owner's underlay MAC only.
    const arping = await exec('ip', ['netns', 'exec', ns['out']!, 'arping', '-c', '3', '-w', '3', '-I', 'eth0', LB4]);
    const macs = new Set([...arping.stdout.matchAll(/\[([0-9A-F:]+)\]/gi)].map((m) => m[1]!.toLowerCase()));
    expect([...macs]).toEqual([await macOf(owner4)]);
    // Traffic reaches the owner, where the nft DNAT carries it on.
    expect(await reach(LB4)).toBe(owner4);
    expect(await reach(LB6)).toBe(owner6);
    expect(await outsideNeighbour(LB6)).toBe(await macOf(owner6));
  });

  it(title('SIGKILL of the owner: its addresses vanish with it, another node takes over and sends a gratuitous ARP and an unsolicited NA'), async () => {
    const victim = agents.get(owner4)!;
    const rest = NAMES.filter((n) => n !== owner4);
    const next4 = ownerOf(LB4, rest);
    expect(await outsideNeighbour(LB4)).toBe(await macOf(owner4));
    victim.child.kill('SIGKILL');
    await victim.exited;
    // The holder's namespace dies with the agent, and the veth pair with it.
    await until(async () => (await holderAddresses(owner4)).length === 0, `${HOLDER_LINK} gone from ${owner4}`);
    await until(async () => (await proxies(owner4)).length === 0, `proxy NDP entries gone from ${owner4}`);
    for (const name of rest) await until(() => lastLive(agents.get(name)!).join() === rest.join(), `${name} sees ${owner4} dead`, agents.get(name));
    await until(() => lastAnnounced(agents.get(next4)!).includes(LB4), `${next4} announces ${LB4}`, agents.get(next4));
    // The outside client never asked again: its cache moved because of the gratuitous ARP.
    await until(async () => (await outsideNeighbour(LB4)) === (await macOf(next4)), 'the outside ARP entry to move to the new owner');
    expect(await reach(LB4)).toBe(next4);
    // IPv6 moved with it, and the unsolicited neighbour advertisement moved the outside's entry.
    expect(owner6).toBe(owner4);
    expect(lastAnnounced(agents.get(next4)!)).toContain(LB6);
    expect(await proxies(next4)).toEqual([LB6]);
    await until(async () => (await outsideNeighbour(LB6)) === (await macOf(next4)), 'the outside NDP entry to move to the new owner');
    expect(await reach(LB6)).toBe(next4);
    agents.delete(owner4);
  });

  it(title('SIGTERM: the agent withdraws before it exits and the last node takes over without waiting for the timeout'), async () => {
    const rest = [...agents.keys()];
    const leaving = ownerOf(LB4, rest);
    const stays = rest.find((n) => n !== leaving)!;
    const agent = agents.get(leaving)!;
    agent.child.kill('SIGTERM');
    expect(await agent.exited).toBe(0);
    expect(agent.events.at(-1)).toEqual({ event: 'stopped' });
    // Withdrawn by the time the process is gone: no link, no proxy entries.
    expect(await holderAddresses(leaving)).toEqual([]);
    expect(await proxies(leaving)).toEqual([]);
    const survivor = agents.get(stays)!;
    await until(() => lastAnnounced(survivor).join() === [LB4, LB6].sort().join(), `${stays} announces both`, survivor);
    // It learnt from the leaving message, not from silence: the message came before its live set
    // dropped the node, and before it announced.
    const leftAt = survivor.events.findIndex((e) => e['event'] === 'leaving' && e['from'] === leaving);
    expect(leftAt).toBeGreaterThanOrEqual(0);
    expect(survivor.events[leftAt + 1]).toEqual({ event: 'live', nodes: [stays] });
    expect(await reachAgain(LB4, stays)).toBe(stays);
    agents.delete(leaving);
  });

  it(title('a kill of the whole agent (holder included) leaves IPv6 proxy entries, which --cleanup removes, and only those'), async () => {
    const [name] = [...agents.keys()];
    const agent = agents.get(name!)!;
    expect(await proxies(name!)).toEqual([LB6]);
    await mustExec('ip', ['-n', ns[name!]!, '-6', 'neigh', 'add', 'proxy', 'fd40::77', 'dev', 'eth0']); // not ours
    killGroup(agent);
    await agent.exited;
    await until(async () => (await holderAddresses(name!)).length === 0, `${HOLDER_LINK} gone from ${name}`);
    expect(await proxies(name!)).toEqual([LB6]); // the documented leftover
    const cleanup = await mustExec('ip', ['netns', 'exec', ns[name!]!, process.execPath, AGENT, JSON.stringify({ cleanup: true, iface: 'eth0' })]);
    expect(JSON.parse(cleanup.trim())).toEqual({ event: 'cleanup', link: false, proxies: [`${LB6} dev eth0`] });
    expect(await proxies(name!)).toEqual([]);
    const all = (await ipJson(ns[name!]!, ['-6', 'neigh', 'show', 'proxy'])) as Array<{ dst: string }>;
    expect(all.map((e) => e.dst)).toEqual(['fd40::77']);
    agents.delete(name!);
  });

  it(title('a starting agent announces nothing before it has heard its peers: it never grabs what a live node owns'), async () => {
    // Nobody runs now. One agent alone takes everything once it has waited deadAfterMs for peers.
    const first = ownerOf(LB4, NAMES);
    const second = NAMES.find((n) => n !== first)!; // loses both addresses against first
    const a = await startAgent(first);
    await until(() => lastAnnounced(a).join() === [LB4, LB6].sort().join(), `${first} announces both alone`, a);
    const b = await startAgent(second);
    await until(() => lastLive(b).length === 2 && lastLive(a).length === 2, 'both see each other', b);
    // Alone for its first moments, second would have owned both; it waited for first instead.
    expect(b.events.filter((e) => e['event'] === 'announced')).toEqual([]);
    expect(a.events.filter((e) => e['event'] === 'announced').map((e) => e['ips'])).toEqual([[LB4, LB6].sort()]);
    expect(await reach(LB4)).toBe(first);
  });
});
