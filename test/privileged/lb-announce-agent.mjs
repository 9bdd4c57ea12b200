// A node agent's LoadBalancer announcement, alone, for test/privileged/lb-announce.test.ts: run it
// inside a node namespace (`ip netns exec`), so killing this process really is the agent dying.
// argv[2] is JSON: { nodeName, iface, nodeAddresses, port, secretFile, intervalMs, deadAfterMs,
// objects, httpPort, arping?, perl? } — or { cleanup: true, iface } to run the --cleanup step and exit.
// It prints JSON lines: {"event":"live",…}, {"event":"announced",…}, {"event":"leaving",…},
// {"event":"stopped"}. A TCP server on httpPort answers every connection with the node name.
import { createServer } from 'node:net';
import { join } from 'node:path';

const dist = join(import.meta.dirname, '..', '..', 'dist');
const { ObjectStore } = await import(join(dist, 'store', 'object-store.js'));
const { createLogger } = await import(join(dist, 'lib', 'logger.js'));
const { loadHeartbeatSecret } = await import(join(dist, 'lb-announce', 'heartbeat.js'));
const { startLoadBalancerAnnouncement, cleanupLoadBalancerAnnouncement } = await import(join(dist, 'lb-announce', 'start-lb-announce.js'));

const config = JSON.parse(process.argv[2]);
const print = (line) => process.stdout.write(JSON.stringify(line) + '\n');
const logger = createLogger({ level: 'info', destination: process.stderr });

if (config.cleanup) {
  print({ event: 'cleanup', ...(await cleanupLoadBalancerAnnouncement({ iface: config.iface, logger })) });
  process.exit(0);
}

const store = new ObjectStore();
for (const object of config.objects) store.upsert(object);
const running = await startLoadBalancerAnnouncement({
  store,
  nodeName: config.nodeName,
  iface: config.iface,
  nodeAddresses: config.nodeAddresses,
  port: config.port,
  secret: await loadHeartbeatSecret(config.secretFile),
  intervalMs: config.intervalMs,
  deadAfterMs: config.deadAfterMs,
  logger,
  onHeartbeatEvent: (event) => event.type === 'accepted' && event.kind === 'leaving' && print({ event: 'leaving', from: event.from }),
  ...(config.arping ? { arping: config.arping } : {}),
  ...(config.perl ? { perl: config.perl } : {}),
});

const live = (nodes) => print({ event: 'live', nodes: [...nodes].sort() });
running.membership.subscribe(live);
live(running.membership.live());
let last = '[]';
const report = () => {
  const now = JSON.stringify(running.announcer.announced());
  if (now !== last) print({ event: 'announced', ips: JSON.parse(now) });
  last = now;
};
setInterval(report, 20).unref();

createServer((socket) => socket.end(config.nodeName + '\n')).listen(config.httpPort, '::');

process.on('SIGTERM', async () => {
  await running.stop();
  report();
  print({ event: 'stopped' });
  process.exit(0);
});

const first = running.announcer.nextPass();
running.markSynced(); // the store is complete: the objects came on the command line
await first;
report();
print({ event: 'ready' });
