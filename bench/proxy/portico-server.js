// Bench-only: Portico's ProxyServer + BackendRegistry with a one-route fake lookup, in its own process.
//   node bench/proxy/portico-server.js <backendPort> [--access-log]
// Prints `{"port":…}` once listening; SIGTERM stops it.
import { pino } from 'pino';
import { BackendRegistry } from '../../dist/balancer/backend-registry.js';
import { createLogger, createSilentLogger } from '../../dist/lib/logger.js';
import { ProxyServer } from '../../dist/proxy/proxy-server.js';

const backendPort = Number(process.argv[2]);
const withAccessLog = process.argv.includes('--access-log');

const backend = { key: 'bench/echo/80', namespace: 'bench', service: 'echo', port: 80 };
const endpoint = { key: `127.0.0.1:${backendPort}`, address: '127.0.0.1', port: backendPort, ready: true, serving: true, terminating: false };
const match = { backend, ingress: 'bench/echo' };

const backends = new BackendRegistry({ pool: { connections: 128 } });
backends.sync(new Map([[backend.key, { backend, endpoints: [endpoint] }]]));
const proxy = new ProxyServer({
  backends,
  routes: { lookup: () => match },
  logger: createSilentLogger(),
  ...(withAccessLog && {
    accessLog: createLogger({ destination: pino.destination({ dest: '/dev/null', sync: false }) }).child({ log: 'access' }),
  }),
});
const address = await proxy.listen({ port: 0, host: '127.0.0.1' });
process.stdout.write(`${JSON.stringify({ port: address.port })}\n`);
process.once('SIGTERM', () => void proxy.close().then(() => process.exit(0)));
