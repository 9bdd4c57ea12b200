import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface AdminServerOptions {
  /** Readiness: ready once the first full configuration is serving, not ready again while shutting down. */
  readiness: () => Readiness;
  /** Extra read-only JSON views by path, e.g. `/debug/stats`; `/debug/` lists them all. */
  views?: Readonly<Record<string, AdminView>>;
  /** Prometheus exposition at /metrics. */
  metrics?: { readonly contentType: string; render(): Promise<string> };
}

export interface AdminView {
  /** One line for the `/debug/` index. */
  readonly description: string;
  /** The JSON body; may be a promise (with `--workers`, /debug/stats asks the workers first). */
  readonly render: () => unknown;
}

/** The fixed endpoints, for the `/debug/` index. */
const BUILT_IN: Readonly<Record<string, string>> = {
  '/healthz': 'Liveness: 200 while the process runs',
  '/readyz': 'Readiness: 200 once the first full configuration serves; 503 before, and from the start of shutdown',
  '/metrics': 'Prometheus metrics',
};

export type Readiness = { readonly ready: true } | { readonly ready: false; readonly reason: string };

/** The admin listener: liveness, readiness and small JSON views. Never on the traffic ports. */
export class AdminServer {
  readonly #server: Server;

  constructor(options: AdminServerOptions) {
    this.#server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?', 1)[0];
      if (path === '/metrics' && options.metrics) {
        const metrics = options.metrics;
        metrics.render().then(
          (text) => {
            res.writeHead(200, { 'content-type': metrics.contentType, 'content-length': Buffer.byteLength(text) });
            res.end(req.method === 'HEAD' ? undefined : text);
          },
          (error: unknown) => {
            res.writeHead(500, { 'content-type': 'text/plain' });
            res.end(`metrics failed: ${(error as Error).message}\n`);
          },
        );
        return;
      }
      const send = (status: number, body: unknown): void => {
        const text = `${JSON.stringify(body)}\n`;
        res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
        res.end(req.method === 'HEAD' ? undefined : text);
      };
      if (path === '/healthz') return send(200, { status: 'ok' });
      if (path === '/readyz') {
        const readiness = options.readiness();
        return send(readiness.ready ? 200 : 503, { status: readiness.ready ? 'ready' : `not ready: ${readiness.reason}` });
      }
      if (path === '/debug/' || path === '/debug') {
        const views = Object.fromEntries(Object.entries(options.views ?? {}).map(([viewPath, view]) => [viewPath, view.description]));
        return send(200, { endpoints: { ...BUILT_IN, ...views } });
      }
      const view = path !== undefined ? options.views?.[path] : undefined;
      if (!view) return send(404, { error: 'not found' });
      let body: unknown;
      try {
        body = view.render();
      } catch (error) {
        return send(500, { error: (error as Error).message });
      }
      if (!(body instanceof Promise)) return send(200, body);
      body.then(
        (value: unknown) => send(200, value),
        (error: unknown) => send(500, { error: (error as Error).message }),
      );
    });
  }

  async listen(options: { port: number; host?: string }): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(options.port, options.host, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    return this.#server.address() as AddressInfo;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
