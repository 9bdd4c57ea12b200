import { fileURLToPath } from 'node:url';
import { DEFAULT_COMPILE_OPTIONS } from '../compile/index.js';
import { startController } from '../controller/start-controller.js';
import { startEchoServer } from '../echo/echo-server.js';
import { createLogger, LOG_LEVELS, type LogLevel } from '../lib/logger.js';
import { parseFlags, type FlagSpec } from './flags.js';

export const DEMO_FLAGS = {
  'http-port': { type: 'port', default: 8080, description: 'HTTP listener port' },
  'admin-port': { type: 'port', default: 10254, description: 'Admin port' },
  'log-level': { type: 'string', default: 'info', choices: LOG_LEVELS, description: 'Log level' },
} as const satisfies Record<string, FlagSpec>;

/** The echo pods the manifests in deploy/examples point at (EndpointSlice addresses). */
const DEMO_PODS = [
  { port: 18081, podName: 'web-1', serviceName: 'web' },
  { port: 18082, podName: 'web-2', serviceName: 'web' },
  { port: 18083, podName: 'api-1', serviceName: 'api' },
  { port: 18084, podName: 'fallback-1', serviceName: 'fallback' },
];

export async function runDemoCommand(argv: readonly string[]) {
  const flags = parseFlags(argv, DEMO_FLAGS);
  const manifestsDir = fileURLToPath(new URL('../../deploy/examples/', import.meta.url));
  const logger = createLogger({ level: flags['log-level'] as LogLevel });
  const pods: Array<Awaited<ReturnType<typeof startEchoServer>>> = [];
  try {
    for (const pod of DEMO_PODS) pods.push(await startEchoServer({ ...pod, host: '127.0.0.1' }));
  } catch (error) {
    await Promise.all(pods.map((pod) => pod.close()));
    throw new Error(`cannot start the demo echo backends on 127.0.0.1:18081-18084: ${(error as Error).message}`);
  }
  const running = await startController({
    manifestsDir,
    httpPort: flags['http-port'],
    adminPort: flags['admin-port'],
    compile: DEFAULT_COMPILE_OPTIONS,
    logger,
  }).catch(async (error: unknown) => {
    await Promise.all(pods.map((pod) => pod.close()));
    throw error;
  });
  const base = `http://127.0.0.1:${running.http.port}`;
  process.stderr.write(`
Portico demo is running: ${DEMO_PODS.length} echo pods behind the manifests in ${manifestsDir}
Try:
  curl -s -H 'Host: web.example.com' ${base}/                  # round-robin over web-1 and web-2
  curl -s -H 'Host: shop.apps.example.com' ${base}/cart?id=7   # wildcard host *.apps.example.com
  curl -s -H 'Host: api.example.com' ${base}/v1/users          # Prefix /v1, port by name
  curl -s -H 'Host: api.example.com' ${base}/status            # Exact /status → web
  curl -s ${base}/anything                                     # no rule: the defaultBackend
  curl -s http://127.0.0.1:${running.admin.port}/readyz
Edit a file in deploy/examples/ and the change is served at once, without a restart.
Ctrl-C stops.

`);
  return {
    async close() {
      await running.close();
      await Promise.all(pods.map((pod) => pod.close()));
    },
  };
}
