import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseCidr } from '../../src/lib/cidr.js';
import { createLogger } from '../../src/lib/logger.js';
import { FakeNft } from '../../src/nft/fake-nft.js';
import { FakeRouteHost } from '../../src/route-agent/fake-route-host.js';
import { startNodeAgent } from '../../src/route-agent/start-node-agent.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('startNodeAgent', () => {
  it('SIGTERM (close) returns even when the API server never answers the first list', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'node-agent-start-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const kubeconfig = join(dir, 'kubeconfig');
    // Port 1 on loopback refuses: the informers retry for ever and never report synced.
    await writeFile(
      kubeconfig,
      ['apiVersion: v1', 'kind: Config', 'clusters: [{name: c, cluster: {server: "http://127.0.0.1:1"}}]', 'users: [{name: u, user: {}}]', 'contexts: [{name: x, context: {cluster: c, user: u}}]', 'current-context: x', ''].join('\n'),
    );
    const running = await startNodeAgent({
      kubeconfigPath: kubeconfig,
      nodeName: 'node-1',
      mode: 'vxlan',
      clusterCIDRs: [parseCidr('10.244.0.0/16')!],
      vni: 1,
      port: 8472,
      syncPeriodMs: 3_600_000,
      announce: { port: 0 },
      logger: createLogger({ level: 'silent' }),
      host: new FakeRouteHost(),
      nft: new FakeNft(),
    });
    await running.close();
    expect(running.announcement()).toBeUndefined();
  });
});
