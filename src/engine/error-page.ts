// custom-http-errors: the default backend's answer in place of the upstream's. As ingress-nginx's
// error_page location: a request to `/` with the original method (no body: the original body
// went to the upstream already), the client's Host, and X-Code, X-Format, X-Original-URI,
// X-Namespace, X-Ingress-Name, X-Service-Name, X-Service-Port, X-Request-ID, X-Forwarded-For. Its
// response (status included: nginx does not change it) is read whole, up to MAX_PAGE_BYTES, and
// written to the client with a Content-Length.
import { request } from 'node:http';
import type { Endpoint } from '../model/route-model.js';

export const MAX_PAGE_BYTES = 1024 * 1024;

export interface ErrorPageRequest {
  readonly endpoint: Endpoint;
  readonly method: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
}

export interface ErrorPage {
  readonly status: number;
  readonly statusMessage: string;
  /** The default backend's fields, hop-by-hop and framing ones removed. */
  readonly fields: ReadonlyArray<readonly [string, string]>;
  readonly body: Buffer;
}

const DROPPED = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'content-length', 'te', 'trailer', 'upgrade']);

export function fetchErrorPage(o: ErrorPageRequest): Promise<ErrorPage> {
  return new Promise((resolve, reject) => {
    const req = request({ host: o.endpoint.address, port: o.endpoint.port, method: o.method, path: '/', headers: o.headers, agent: false, timeout: o.timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_PAGE_BYTES) req.destroy(new Error('default backend response over 1 MiB'));
        else chunks.push(chunk);
      });
      res.on('error', reject);
      res.on('end', () => {
        const fields: Array<readonly [string, string]> = [];
        const raw = res.rawHeaders;
        for (let i = 0; i + 1 < raw.length; i += 2) if (!DROPPED.has(raw[i]!.toLowerCase())) fields.push([raw[i]!, raw[i + 1]!]);
        resolve({ status: res.statusCode ?? 502, statusMessage: res.statusMessage ?? '', fields, body: Buffer.concat(chunks) });
      });
    });
    req.on('timeout', () => req.destroy(new Error('default backend timed out')));
    req.on('error', reject);
    req.end();
  });
}
