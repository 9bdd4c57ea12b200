// A node agent's LoadBalancer announcement, alone, for test/privileged/lb-announce.test.ts: run it
// inside a node namespace (`ip netns exec`), so killing this process really is the agent dying.
// argv[2] is JSON: { nodeName, iface, nodeAddresses, bind, port, secretFile, intervalMs,
// deadAfterMs, objects, httpPort }. It prints JSON lines: {"event":"live",…}, {"event":"announced",…},
// {"event":"leaving",…}, {"event":"stopped"}. A TCP server on httpPort answers every connection with the node name.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

const dist = join(import.meta.dirname, '..', '..', 'dist');
const { ObjectStore } = await import(join(dist, 'store', 'object-store.js'));
const { ExecNetHost } = await import(join(dist, 'host', 'exec-net-host.js'));
const { ExecCommandRunner } = await import(join(dist, 'lib', 'run-command.js'));
const { createLogger } = await import(join(dist, 'lib', 'logger.js'));
const { Membership } = await import(join(dist, 'lb-announce', 'heartbeat.js'));
const { HolderAnnouncer, execHolder } = await import(join(dist, 'lb-announce', 'announcer.js'));
const { LoadBalancerAnnouncer } = await import(join(dist, 'lb-announce', 'lb-announcer.js'));

const config = JSON.parse(process.argv[2]);
const print = (line) => process.stdout.write(JSON.stringify(line) + '\n');
const logger = createLogger({ level: 'info', destination: process.stderr });

const store = new ObjectStore();
for (const object of config.objects) store.upsert(object);
const runner = new ExecCommandRunner();
const membership = new Membership({
  nodeName: config.nodeName,
  bind: config.bind,
  port: config.port,
  secret: readFileSync(config.secretFile),
  intervalMs: config.intervalMs,
  deadAfterMs: config.deadAfterMs,
  logger,
  onEvent: (event) => event.type === 'accepted' && event.kind === 'leaving' && print({ event: 'leaving', from: event.from }),
});
let announcer;
const holder = new HolderAnnouncer({
  net: new ExecNetHost({ runner }),
  iface: config.iface,
  runner,
  spawnHolder: execHolder(),
  ...(config.arping ? { arping: config.arping } : {}),
  logger,
  onHolderLost: () => announcer?.resync(),
});
announcer = new LoadBalancerAnnouncer({ store, nodeName: config.nodeName, iface: config.iface, nodeAddresses: config.nodeAddresses, membership, holder, logger });

membership.subscribe((live) => print({ event: 'live', nodes: [...live].sort() }));
let last = '[]';
const report = () => {
  const now = JSON.stringify(announcer.announced());
  if (now !== last) print({ event: 'announced', ips: JSON.parse(now) });
  last = now;
};
setInterval(report, 20).unref();

createServer((socket) => socket.end(config.nodeName + '\n')).listen(config.httpPort, '::');

process.on('SIGTERM', async () => {
  await announcer.stop();
  report();
  print({ event: 'stopped' });
  process.exit(0);
});

await membership.start();
await announcer.start();
report();
print({ event: 'ready' });
