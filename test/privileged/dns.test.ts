import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as packet from '@leichtgewicht/dns-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DnsServer } from '../../src/dns/server.js';
import { startDns, type RunningDns } from '../../src/dns/start-dns.js';
import { createSilentLogger } from '../../src/lib/logger.js';

// A "pod" resolves a Service by its short name: a network namespace (ptd-<random>) with a veth to
// the host, portico dns on the host end, and /etc/netns/<ns>/resolv.conf with the pod search path
// (`ip netns exec` bind-mounts it over /etc/resolv.conf). glibc's resolver (getent) and dig +search
// do the search-path walk. Names outside the zone go to a fake upstream on loopback. The namespace,
// its veth and /etc/netns/<ns> are always removed.

const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const which = (tool: string) => SYSTEM_PATH.split(':').some((dir) => existsSync(join(dir, tool)));

function skipReason(): string | undefined {
  if (process.platform !== 'linux') return 'needs Linux network namespaces';
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, veth, port 53, /etc/netns)';
  const missing = ['ip', 'getent'].filter((tool) => !which(tool));
  if (missing.length > 0) return `missing ${missing.join(', ')} (apt-get install iproute2 libc-bin)`;
  return undefined;
}
const SKIP = skipReason();

const run = (command: string, args: string[]) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c));
    child.stderr.on('data', (c: Buffer) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
const must = async (command: string, args: string[]) => {
  const result = await run(command, args);
  if (result.code !== 0) throw new Error(`${command} ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
};

describe.skipIf(SKIP !== undefined)(`portico dns from a pod network namespace${SKIP ? ` (skipped: ${SKIP})` : ''}`, () => {
  const id = randomBytes(3).toString('hex');
  const ns = `ptd-${id}`;
  const hostIf = `ptd${id}h`;
  const podIf = `ptd${id}p`;
  // 198.18.0.0/15 (RFC 2544, benchmarking): never a real network; a /30 per run.
  const third = randomBytes(1)[0]!;
  const fourth = (randomBytes(1)[0]! & 0xfc) % 252;
  const hostAddr = `198.18.${third}.${fourth + 1}`;
  const podAddr = `198.18.${third}.${fourth + 2}`;
  const etc = `/etc/netns/${ns}`;
  let dir: string;
  let upstream: DnsServer;
  let dns: RunningDns | undefined;
  let bindProblem: string | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'portico-dns-netns-'));
    writeFileSync(
      join(dir, 'web.yaml'),
      'apiVersion: v1\nkind: Service\nmetadata: { name: web, namespace: default }\nspec: { clusterIP: 10.96.0.20, clusterIPs: [10.96.0.20] }\n' +
        '---\napiVersion: v1\nkind: Service\nmetadata: { name: db, namespace: other }\nspec: { clusterIP: 10.96.0.30, clusterIPs: [10.96.0.30] }\n',
    );
    // Everything outside the zone: NXDOMAIN from loopback (so the search walk ends, no traffic leaves).
    upstream = new DnsServer({
      host: '127.0.0.1',
      port: 0,
      logger: createSilentLogger(),
      handler: async (bytes) => {
        const q = packet.decode(bytes);
        return packet.encode({ type: 'response', id: q.id, flags: 0x8183, questions: q.questions });
      },
    });
    await upstream.listen();
    await must('ip', ['netns', 'add', ns]);
    await must('ip', ['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', podIf]);
    await must('ip', ['link', 'set', podIf, 'netns', ns]);
    await must('ip', ['addr', 'add', `${hostAddr}/30`, 'dev', hostIf]);
    await must('ip', ['link', 'set', hostIf, 'up']);
    await must('ip', ['-n', ns, 'addr', 'add', `${podAddr}/30`, 'dev', podIf]);
    await must('ip', ['-n', ns, 'link', 'set', podIf, 'up']);
    await must('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    mkdirSync(etc, { recursive: true });
    writeFileSync(join(etc, 'resolv.conf'), `nameserver ${hostAddr}\nsearch default.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5 timeout:2 attempts:2\n`);
    try {
      dns = await startDns({ manifestsDir: dir, host: hostAddr, port: 53, zone: 'cluster.local', ttl: 5, upstreams: [{ host: '127.0.0.1', port: upstream.port }], pods: 'insecure', logger: createSilentLogger() });
    } catch (error) {
      bindProblem = (error as Error).message;
    }
  });

  afterAll(async () => {
    await dns?.close();
    await upstream?.close();
    spawnSync('ip', ['netns', 'del', ns]); // takes the veth pair with it
    spawnSync('ip', ['link', 'del', hostIf]); // in case the move into the namespace failed
    rmSync(etc, { recursive: true, force: true });
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('resolves a Service by its short name with getent (glibc, search path, ndots:5)', async (context) => {
    if (bindProblem) context.skip(`cannot listen on ${hostAddr}:53: ${bindProblem}`);
    const out = await must('ip', ['netns', 'exec', ns, 'getent', 'hosts', 'web']);
    expect(out.trim().split(/\s+/)).toEqual(['10.96.0.20', 'web.default.svc.cluster.local']);
    // `svc.ns`: another namespace's Service, through the second search domain.
    const other = await must('ip', ['netns', 'exec', ns, 'getent', 'hosts', 'db.other']);
    expect(other.trim().split(/\s+/)).toEqual(['10.96.0.30', 'db.other.svc.cluster.local']);
    // An unknown short name: every expansion NXDOMAIN, then the upstream's: getent exits 2.
    expect((await run('ip', ['netns', 'exec', ns, 'getent', 'hosts', 'nope'])).code).toBe(2);
  });

  it.skipIf(!which('dig'))('resolves it with dig +search', async (context) => {
    if (bindProblem) context.skip(`cannot listen on ${hostAddr}:53: ${bindProblem}`);
    const out = await must('ip', ['netns', 'exec', ns, 'dig', '+search', '+short', 'web', 'A']);
    expect(out.trim()).toBe('10.96.0.20');
  });
});
