// The small HTTP servers the node components answer probes and scrapes on (/healthz, /metrics):
// one reply function per server, no routing framework.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface EndpointReply {
  readonly status: number;
  readonly type: string;
  readonly body: string;
}

export function listen(server: Server, port: number, host?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

export function close(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** Listens on `port` and answers every request with `reply(path)` (query stripped; HEAD without a body). */
export async function serveEndpoints(
  port: number,
  host: string | undefined,
  reply: (path: string) => Promise<EndpointReply> | EndpointReply,
): Promise<{ server: Server; address: AddressInfo }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0]!;
    Promise.resolve(reply(path)).then(
      ({ status, type, body }) => {
        res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
        res.end(req.method === 'HEAD' ? undefined : body);
      },
      (error: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`${(error as Error).message}\n`);
      },
    );
  });
  await listen(server, port, host);
  return { server, address: server.address() as AddressInfo };
}
