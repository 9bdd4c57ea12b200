// The scenarios: what load each one puts on every target, and what it measures.
import { ROUTING, routingHost, routingPath, TLS_HOST } from './configs.js';

/** Deterministic PRNG (mulberry32), so every run requests the same mix. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function routingRequests(count) {
  const rand = prng(42);
  return Array.from({ length: count }, () => {
    const i = Math.floor(rand() * ROUTING.hosts);
    const j = Math.floor(rand() * ROUTING.pathsPerHost);
    return { host: routingHost(i), path: `${routingPath(j)}/item?id=${i}` };
  });
}

/**
 * @param connections connections for the keep-alive scenarios (CONNECTIONS)
 * Each scenario: id, title, short (chart label), description, profile (which configuration the
 * proxies load), backend ('nginx': the nginx `return 200` backend that never saturates; 'echo': the
 * Node echo backend, for WebSocket), tls, direct (whether the backend can be measured directly),
 * `wrk` (the wrk run, when wrk can drive the scenario) and `load` (the load-worker.js spec: the
 * generator when there is no `wrk` spec or wrk is not installed, and what profile.js uses).
 */
export function buildScenarios({ connections }) {
  const routing = routingRequests(1000);
  return [
    {
      id: 'http-keepalive',
      title: 'HTTP keep-alive, 128-byte body',
      short: 'HTTP keep-alive',
      description: `wrk, ${connections} keep-alive connections, GET /bytes/128 (Host ${TLS_HOST}), nginx backend answering 128 bytes: the per-request cost of the proxy.`,
      profile: 'base',
      backend: 'nginx',
      tls: false,
      direct: true,
      wrk: { path: '/bytes/128', connections },
      load: { kind: 'autocannon', path: '/bytes/128', connections },
    },
    {
      id: 'http-fixed-rate',
      title: 'HTTP keep-alive at a fixed rate (latency below saturation)',
      short: 'HTTP fixed rate',
      description: `**Generator: load-worker.js (paced)**, ${connections} keep-alive connections, GET /bytes/128 at the same fixed rate for every target (open loop; each latency counts from when its request was due, as wrk2 does; wrk2 is not in Debian). The rate is FIXED_RATE, or half the lowest proxy req/s of the HTTP keep-alive scenario in the same run (rounded down to 500/s): below every proxy's saturation point, so p99 compares latency, not queueing. The proxies are not meant to saturate here: a row is flagged only if the generator's CPU is saturated, the rate was not reached, or other processes took more than 0.2 of the proxy's CPU (its latency is then not its own).`,
      profile: 'base',
      backend: 'nginx',
      tls: false,
      direct: true,
      fixedRate: true,
      load: { kind: 'paced', path: '/bytes/128', connections, rate: null },
    },
    {
      id: 'https-keepalive',
      title: 'HTTPS keep-alive, 128-byte body',
      short: 'HTTPS keep-alive',
      description: `wrk over TLS (RSA-2048 certificate, TLS 1.3; wrk sends the IP as SNI, so every proxy serves its default certificate, which is the same one), ${connections} keep-alive connections, GET /bytes/128: TLS record cost without handshakes. No direct row (the backend speaks plain HTTP).`,
      profile: 'base',
      backend: 'nginx',
      tls: true,
      direct: false,
      wrk: { path: '/bytes/128', connections },
      load: { kind: 'autocannon', path: '/bytes/128', connections },
    },
    {
      id: 'https-h2',
      title: 'HTTP/2 over TLS, 128-byte body',
      short: 'HTTP/2',
      description: `h2load (nghttp2), ${connections} TLS connections (ALPN h2) × 10 concurrent streams, GET /bytes/128: each proxy speaks HTTP/2 to the client and HTTP/1.1 keep-alive to the nginx backend. h2load reports no latency percentiles (only mean and max). Portico's node data plane serves no HTTP/2 and is left out.`,
      profile: 'base',
      backend: 'nginx',
      tls: true,
      direct: false,
      h2load: { path: '/bytes/128', connections, streams: 10 },
      load: { kind: 'autocannon', path: '/bytes/128', connections },
    },
    {
      id: 'http-new-connection',
      title: 'HTTP, a new connection per request',
      short: 'HTTP new conn',
      description: `wrk, ${connections} connections, GET /bytes/128 with \`Connection: close\`: every response closes its connection and wrk opens the next one (accept + connection set-up cost). wrk's latency starts when the request is written, so it does not include the connect.`,
      profile: 'base',
      backend: 'nginx',
      tls: false,
      direct: true,
      wrk: { path: '/bytes/128', connections, headers: ['Connection: close'] },
      load: { kind: 'raw', newConnection: true, path: '/bytes/128', connections: 16 },
    },
    {
      id: 'https-handshake',
      title: 'HTTPS, a new connection (full TLS handshake) per request',
      short: 'HTTPS handshake',
      description: '**Generator: load-worker.js** (Node, not wrk). 16 concurrent clients, each doing a full TLS 1.3 handshake (no session resumption, ECDHE + RSA-2048 signature) and one GET /bytes/128 with `Connection: close`. Latency includes connect and handshake.',
      profile: 'base',
      backend: 'nginx',
      tls: true,
      direct: false,
      load: { kind: 'raw', newConnection: true, path: '/bytes/128', connections: 16 },
    },
    {
      id: 'large-1mib',
      title: '1 MiB responses',
      short: 'Large 1-MiB',
      description: 'wrk, 8 keep-alive connections, GET /bytes/1048576 (content-length; nginx backend serving a file): streaming cost per byte (copies, socket writes, backpressure). CPU is per response.',
      profile: 'base',
      backend: 'nginx',
      tls: false,
      direct: true,
      showMBps: true,
      wrk: { path: '/bytes/1048576', connections: 8 },
      load: { kind: 'raw', newConnection: false, path: '/bytes/1048576', connections: 8 },
    },
    {
      id: 'routing-10k',
      title: `Routing table: ${ROUTING.hosts.toLocaleString('en-US')} hosts × ${ROUTING.pathsPerHost} paths`,
      short: '10k routes',
      description: `${ROUTING.hosts} Ingresses (one host each, ${ROUTING.pathsPerHost} Prefix paths over ${ROUTING.services} Services); wrk, ${connections} connections, a Lua script cycling through 1,000 random (host, path) pairs; the nginx backend answers 128 bytes. nginx: one server block per host, one location per path; HAProxy: one map (map_beg on host+path).`,
      profile: 'routing',
      backend: 'nginx',
      tls: false,
      direct: true,
      wrk: { requests: routing, connections },
      load: { kind: 'autocannon', requests: routing, connections },
    },
    {
      id: 'websocket',
      title: 'WebSocket echo, 128-byte messages',
      short: 'WebSocket echo',
      description: `**Generator: load-worker.js** (Node \`ws\`; wrk has no WebSocket mode), echo backend (Node). ${connections} WebSocket connections opened through the proxy during the warm-up, each sending a 128-byte text message and waiting for its echo (closed loop). Rates are messages per second; CPU is per message.`,
      profile: 'base',
      backend: 'echo',
      tls: false,
      direct: true,
      unit: 'msg',
      load: { kind: 'websocket', path: '/ws', connections, messageBytes: 128 },
    },
  ];
}
