import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, CLUSTER_SKIP_REASON, tally } from './cluster-harness.js';

// `portico service-proxy` end to end, as users run it: two node namespaces on an underlay bridge,
// pods wired by portico-cni, host-gw routes set here, an outside client on the underlay, and the
// service proxy running inside each node namespace from a directory of manifests.

const skipTitle = (title: string) => (CLUSTER_SKIP_REASON ? `${title} (skipped: ${CLUSTER_SKIP_REASON})` : title);

let cluster: Cluster;

describe.skipIf(CLUSTER_SKIP_REASON !== undefined)(skipTitle('service proxy on a two-node cluster in namespaces'), () => {
  beforeAll(async () => {
    cluster = await Cluster.create({ pods: [['web-1a', 'client-1'], ['web-2a', 'web-2b']] });
  }, 120_000);

  afterAll(async () => {
    await cluster?.teardown();
  });

  it('pods reach each other by pod IP on one node and across nodes, source IP preserved (TCP and UDP)', async () => {
    const client = cluster.pod('client-1');
    for (const target of ['web-1a', 'web-2a', 'web-2b']) {
      const pod = cluster.pod(target);
      expect(await cluster.tcp(client.netns, pod.ip, 8080), `TCP client-1 → ${target}`).toEqual([{ reply: { pod: target, remote: client.ip, port: 8080 } }]);
      expect(await cluster.udp(client.netns, pod.ip, 8080), `UDP client-1 → ${target}`).toEqual([{ reply: { pod: target, remote: client.ip, port: 8080 } }]);
    }
    const back = cluster.pod('web-2a');
    expect(await cluster.tcp(back.netns, client.ip, 8080)).toEqual([{ reply: { pod: 'client-1', remote: back.ip, port: 8080 } }]);
    // The outside client reaches nodes, not pods (it has no route to 10.244.0.0/16).
    expect(tally(await cluster.tcp(cluster.client, client.ip, 8080, { timeoutMs: 300 }))).not.toHaveProperty('client-1');
  });
});
