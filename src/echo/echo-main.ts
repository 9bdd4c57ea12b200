// Runs one echo server as its own process (benchmarks, manual tests):
//   PORT=9000 POD_NAME=echo-1 SERVICE_NAME=echo node dist/echo/echo-main.js [--port 9000] [--host 0.0.0.0] [--node NAME]
// With --node (or NODE_NAME) replies also carry `node` and `client` (the lab's pods).
// Prints one JSON line `{"port":…,"address":…,"pod":…}` on stdout once listening; SIGTERM/SIGINT stop it.
import { startEchoServer } from './echo-server.js';

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const port = Number(argValue('port') ?? process.env['PORT'] ?? 0);
const host = argValue('host') ?? process.env['HOST'] ?? '127.0.0.1';
const podName = argValue('pod') ?? process.env['POD_NAME'] ?? 'echo-0';
const serviceName = argValue('service') ?? process.env['SERVICE_NAME'] ?? 'echo';
const nodeName = argValue('node') ?? process.env['NODE_NAME'];

const server = await startEchoServer({ port, host, podName, serviceName, ...(nodeName !== undefined && { nodeName }) });
process.stdout.write(`${JSON.stringify({ port: server.port, address: server.address, pod: podName })}\n`);

const stop = (): void => {
  void server.close().then(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
