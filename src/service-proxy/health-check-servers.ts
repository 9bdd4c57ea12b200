// healthCheckNodePort servers (externalTrafficPolicy Local LoadBalancer Services): the cloud load
// balancer asks every node and sends traffic only to nodes that answer 200, i.e. that have a ready
// local endpoint. Any path answers; the body is kube-proxy's JSON.
import { createServer, type Server } from 'node:http';
import type { Logger } from '../lib/logger.js';
import { close, listen } from '../lib/http-endpoints.js';
import type { HealthCheckSink, HealthCheckTarget } from './proxier.js';

export class HealthCheckServers implements HealthCheckSink {
  readonly #servers = new Map<number, { server: Server; target: HealthCheckTarget }>();
  readonly #host: string | undefined;
  readonly #log: Logger;

  constructor(options: { logger: Logger; host?: string }) {
    this.#log = options.logger;
    this.#host = options.host;
  }

  async sync(targets: ReadonlyMap<number, HealthCheckTarget>): Promise<void> {
    for (const [port, entry] of this.#servers) {
      if (targets.has(port)) continue;
      this.#servers.delete(port);
      await close(entry.server);
    }
    for (const [port, target] of targets) {
      const existing = this.#servers.get(port);
      if (existing) {
        existing.target = target; // read per request: the count updates without a restart
        continue;
      }
      const entry = { server: createServer(), target };
      entry.server.on('request', (_req, res) => {
        const { namespace, name, localEndpoints } = entry.target;
        const body = `${JSON.stringify({ service: { namespace, name }, localEndpoints, serviceProxyHealthy: true })}\n`;
        res.writeHead(localEndpoints > 0 ? 200 : 503, { 'content-type': 'application/json', 'x-content-type-options': 'nosniff', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      });
      try {
        await listen(entry.server, port, this.#host);
        this.#servers.set(port, entry);
      } catch (error) {
        this.#log.error({ port, service: `${target.namespace}/${target.name}` }, `service-proxy: cannot serve healthCheckNodePort ${port} for ${target.namespace}/${target.name}: ${(error as Error).message}`);
      }
    }
  }

  /** Ports served now. */
  get ports(): number[] {
    return [...this.#servers.keys()].sort((a, b) => a - b);
  }

  async close(): Promise<void> {
    await this.sync(new Map());
  }
}


