// Bench-only: the alternative, http-proxy 1.18 with a keep-alive Agent (never run it without one).
//   node bench/proxy/http-proxy-server.js <backendPort>
// Prints `{"port":…}` once listening; SIGTERM stops it.
import http from 'node:http';
import httpProxy from 'http-proxy';

const backendPort = Number(process.argv[2]);
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
const proxy = httpProxy.createProxyServer({ target: `http://127.0.0.1:${backendPort}`, agent, xfwd: true });
proxy.on('error', (_err, _req, res) => {
  if (res && 'writeHead' in res && !res.headersSent) res.writeHead(502);
  res?.end();
});
const server = http.createServer((req, res) => proxy.web(req, res));
server.keepAliveTimeout = 75_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
});
process.once('SIGTERM', () => {
  server.close();
  agent.destroy();
  process.exit(0);
});
