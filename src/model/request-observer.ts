import type { RouteMatch } from './route-model.js';

/**
 * What the data planes call once per finished request: declared here, beside the route model, so
 * proxy/, engine/ and http2/ need not import metrics/ (PorticoMetrics implements it).
 */
export interface RequestObserver {
  /**
   * @param match the matched route, undefined for 404s / bad requests
   * @param status the status sent to the client (499 when it went away first)
   * @param seconds whole request duration
   * @param upstreamSeconds time to the upstream's response headers; undefined when none was asked
   * @param method the request method as received (unknown ones are counted as OTHER)
   * @param requestBytes request head and body bytes received from the client; undefined when not known
   * @param responseBytes bytes sent to the client (head and body); undefined when not known
   */
  observeRequest(
    match: RouteMatch | undefined,
    status: number,
    seconds: number,
    upstreamSeconds?: number,
    method?: string,
    requestBytes?: number,
    responseBytes?: number,
  ): void;
}
