// One load run in its own process, so it can be pinned with taskset apart from the proxy:
//
//   node bench/compare/load-worker.js '<json spec>'   → one JSON line on stdout
//
// Spec: { kind, target: { port, tls, servername, host }, path, requests?, connections, warmupS,
// durationS, messageBytes?, sample: { proxy: [pid…], backend: [pid…] } }. A warm-up (discarded) runs
// first on the same target, then the measured run; CPU ticks of the sampled processes and of the
// machine are read right around the measured run.
//
// Since bench/compare switched to wrk, compare.bench.js uses this only for what wrk cannot drive
// (a full TLS handshake per request, WebSocket), when wrk is missing or GENERATOR=load-worker;
// profile.js uses it always. These generators are Node: on one core they saturate before nginx and
// HAProxy do (the report flags such runs "generator-bound").
//
// Load generators:
//   autocannon  keep-alive HTTP/1.1 or HTTPS through autocannon's programmatic API (latency taken
//               from its per-response `responseTime`, which is in fractional ms; autocannon's own
//               histogram rounds to whole ms, too coarse for sub-ms medians);
//   raw         a minimal closed-loop HTTP/1.1 client on net/tls sockets: either a new connection per
//               request (`Connection: close`, TLS without session resumption, so every request pays
//               a full handshake) or keep-alive with large bodies. autocannon cannot do either well:
//               with `reconnectRate` it drops the response it reconnects after, and it appends every
//               body to a string, which makes the client the bottleneck at 1 MiB;
//   paced       keep-alive GETs at a fixed rate (`rate`/s, open loop, latency from when each request
//               was due: the p99 at the same offered load, below every proxy's saturation point);
//   websocket   N WebSocket connections (ws), each sending a message and waiting for its echo.
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import autocannon from 'autocannon';
import { WebSocket } from 'ws';
import { coreBusy, coreIrq, coreTicks, cpuTicks, machineTicks } from './lib/procs.js';

const spec = JSON.parse(process.argv[2]);

/** Latencies in ms (fractional), percentiles by sorting at the end. */
class Latencies {
  #values = new Float64Array(1 << 16);
  #n = 0;
  record(ms) {
    if (this.#n === this.#values.length) {
      const next = new Float64Array(this.#values.length * 2);
      next.set(this.#values);
      this.#values = next;
    }
    this.#values[this.#n++] = ms;
  }
  reset() {
    this.#n = 0;
  }
  summary() {
    const v = this.#values.subarray(0, this.#n).sort();
    const at = (q) => (v.length === 0 ? null : v[Math.min(v.length - 1, Math.ceil(q * v.length) - 1)]);
    let sum = 0;
    for (const x of v) sum += x;
    return { count: v.length, mean: v.length ? sum / v.length : null, p50: at(0.5), p99: at(0.99), p999: at(0.999), max: v.length ? v[v.length - 1] : null };
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Snapshot → { proxy, backend ticks, machine, client cpu µs, time }. */
function snapshot() {
  return {
    proxy: cpuTicks(spec.sample?.proxy ?? []),
    backend: cpuTicks(spec.sample?.backend ?? []),
    others: cpuTicks(spec.sample?.others ?? []),
    machine: machineTicks(),
    cores: coreTicks(),
    client: process.cpuUsage(),
    at: performance.now(),
  };
}

function delta(a, b) {
  const clientUs = b.client.user - a.client.user + (b.client.system - a.client.system);
  return {
    seconds: (b.at - a.at) / 1000,
    proxyTicks: b.proxy - a.proxy,
    backendTicks: b.backend - a.backend,
    othersTicks: b.others - a.others,
    clientCpuSeconds: clientUs / 1e6,
    machineBusy: 1 - (b.machine.idle - a.machine.idle) / Math.max(1, b.machine.total - a.machine.total),
    coreBusy: coreBusy(a.cores, b.cores),
    coreIrq: coreIrq(a.cores, b.cores),
  };
}

// ---------------------------------------------------------------------------------------------
// autocannon

function autocannonRun(durationS, latencies) {
  const t = spec.target;
  const opts = {
    url: `${t.tls ? 'https' : 'http'}://127.0.0.1:${t.port}${spec.path ?? '/'}`,
    connections: spec.connections,
    duration: durationS,
    pipelining: 1,
    timeout: 10,
    ...(t.servername && { servername: t.servername }),
    ...(spec.requests ? { requests: spec.requests.map((r) => ({ method: 'GET', path: r.path, headers: { host: r.host } })) } : { headers: { host: t.host } }),
  };
  return new Promise((resolve, reject) => {
    const instance = autocannon(opts, (err, result) => (err ? reject(err) : resolve(result)));
    if (latencies) instance.on('response', (_client, _status, _bytes, ms) => latencies.record(ms));
  });
}

async function runAutocannon() {
  await autocannonRun(spec.warmupS);
  const latencies = new Latencies();
  const s0 = snapshot();
  const result = await autocannonRun(spec.durationS, latencies);
  const s1 = snapshot();
  return {
    requests: result.requests.total,
    bytes: result.throughput.total,
    errors: result.errors + result.timeouts + (result.mismatches ?? 0) + (result.resets ?? 0),
    non2xx: result.non2xx,
    latency: latencies.summary(),
    ...delta(s0, s1),
    // autocannon's own duration (the window requests were counted in).
    seconds: result.duration,
  };
}

// ---------------------------------------------------------------------------------------------
// raw HTTP/1.1 client (new connection per request, or keep-alive with big bodies)

const CRLFCRLF = Buffer.from('\r\n\r\n');

function rawRun(durationS, latencies) {
  const t = spec.target;
  const newConnection = spec.newConnection === true;
  const request = Buffer.from(`GET ${spec.path} HTTP/1.1\r\nHost: ${t.host}\r\nUser-Agent: portico-bench\r\n${newConnection ? 'Connection: close\r\n' : ''}\r\n`);
  const stats = { requests: 0, bytes: 0, errors: 0, non2xx: 0, errorSamples: [] };
  let running = true;
  const live = new Set();

  const open = () => {
    const socket = t.tls
      ? tlsConnect({ host: '127.0.0.1', port: t.port, servername: t.servername, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] })
      : netConnect({ host: '127.0.0.1', port: t.port, noDelay: true });
    live.add(socket);
    return socket;
  };

  const slot = () => {
    let socket;
    let start = 0;
    let head = [];
    let headLen = 0;
    let bodyLeft = -1;
    let status = 0;
    let done = false; // the current response completed (a later close is expected)

    const fail = (err) => {
      if (!running || done) return;
      stats.errors++;
      if (stats.errorSamples.length < 5) stats.errorSamples.push(String(err?.code ?? err?.message ?? err));
      socket.destroy();
      setImmediate(begin);
    };

    const send = () => {
      start = performance.now();
      head = [];
      headLen = 0;
      bodyLeft = -1;
      done = false;
      socket.write(request);
    };

    const complete = () => {
      done = true;
      if (running) {
        stats.requests++;
        if (status < 200 || status > 299) stats.non2xx++;
        latencies?.record(performance.now() - start);
      }
      if (newConnection) {
        // The server closes (Connection: close); let that finish in the background.
        const old = socket;
        old.once('end', () => old.destroy());
        begin();
      } else if (running) {
        send();
      } else {
        socket.destroy();
      }
    };

    const onData = (chunk) => {
      if (done) return;
      if (bodyLeft < 0) {
        head.push(chunk);
        headLen += chunk.length;
        const buf = head.length === 1 ? chunk : Buffer.concat(head, headLen);
        const end = buf.indexOf(CRLFCRLF);
        if (end < 0) return;
        const text = buf.toString('latin1', 0, end);
        status = Number(text.slice(9, 12));
        const m = /\r\ncontent-length:\s*(\d+)/i.exec(text);
        if (!m) return fail(new Error('response without content-length'));
        bodyLeft = Number(m[1]);
        const rest = buf.length - (end + 4);
        stats.bytes += buf.length;
        bodyLeft -= rest;
      } else {
        stats.bytes += chunk.length;
        bodyLeft -= chunk.length;
      }
      if (bodyLeft <= 0) complete();
    };

    function begin() {
      if (!running) return;
      start = performance.now();
      socket = open();
      const s = socket;
      s.on('data', (chunk) => {
        if (s === socket) onData(chunk);
      });
      s.on('error', (err) => {
        if (s === socket) fail(err);
      });
      s.on('close', () => {
        live.delete(s);
        if (s === socket && !done) fail(new Error('connection closed before the response ended'));
      });
      s.once(t.tls ? 'secureConnect' : 'connect', () => {
        if (newConnection) {
          // The latency of a new-connection request includes the connect and the handshake.
          head = [];
          headLen = 0;
          bodyLeft = -1;
          done = false;
          s.write(request);
        } else {
          send();
        }
      });
    }
    begin();
  };

  for (let i = 0; i < spec.connections; i++) slot();
  return new Promise((resolve) => {
    setTimeout(() => {
      running = false;
      for (const s of live) s.destroy();
      resolve(stats);
    }, durationS * 1000);
  });
}

async function runRaw() {
  await rawRun(spec.warmupS);
  await sleep(200); // let the warm-up's sockets finish closing
  const latencies = new Latencies();
  const s0 = snapshot();
  const stats = await rawRun(spec.durationS, latencies);
  const s1 = snapshot();
  return { ...stats, latency: latencies.summary(), ...delta(s0, s1) };
}

// ---------------------------------------------------------------------------------------------
// paced: keep-alive GETs at a fixed rate (open loop). Request i is due at t0 + i / rate; it goes out
// on an idle connection as soon as there is one, and its latency counts from when it was due (so a
// stall shows up in the tail instead of lowering the rate: no coordinated omission, as wrk2 does).

function pacedRun(durationS, latencies) {
  const t = spec.target;
  const rate = spec.rate;
  const request = Buffer.from(`GET ${spec.path} HTTP/1.1\r\nHost: ${t.host}\r\nUser-Agent: portico-bench\r\n\r\n`);
  const stats = { requests: 0, bytes: 0, errors: 0, non2xx: 0, errorSamples: [], offered: 0, maxBacklog: 0 };
  const idle = [];
  const due = []; // scheduled times (ms, performance.now()) not yet sent
  const sockets = [];
  let running = true;
  const t0 = performance.now();

  const dispatch = () => {
    while (idle.length && due.length) idle.pop().sendAt(due.shift());
  };

  const conn = () => {
    const socket = t.tls
      ? tlsConnect({ host: '127.0.0.1', port: t.port, servername: t.servername, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] })
      : netConnect({ host: '127.0.0.1', port: t.port, noDelay: true });
    sockets.push(socket);
    let scheduled = 0;
    let head = [];
    let headLen = 0;
    let bodyLeft = -1;
    let status = 0;
    const c = {
      sendAt(at) {
        scheduled = at;
        head = [];
        headLen = 0;
        bodyLeft = -1;
        socket.write(request);
      },
    };
    socket.on(t.tls ? 'secureConnect' : 'connect', () => {
      idle.push(c);
      dispatch();
    });
    socket.on('error', (err) => {
      if (!running) return;
      stats.errors++;
      if (stats.errorSamples.length < 5) stats.errorSamples.push(String(err?.code ?? err?.message ?? err));
    });
    socket.on('data', (chunk) => {
      if (bodyLeft < 0) {
        head.push(chunk);
        headLen += chunk.length;
        const buf = head.length === 1 ? chunk : Buffer.concat(head, headLen);
        const end = buf.indexOf(CRLFCRLF);
        if (end < 0) return;
        const text = buf.toString('latin1', 0, end);
        status = Number(text.slice(9, 12));
        const m = /\r\ncontent-length:\s*(\d+)/i.exec(text);
        bodyLeft = (m ? Number(m[1]) : 0) - (buf.length - (end + 4));
        stats.bytes += buf.length;
      } else {
        stats.bytes += chunk.length;
        bodyLeft -= chunk.length;
      }
      if (bodyLeft > 0) return;
      if (running) {
        stats.requests++;
        if (status < 200 || status > 299) stats.non2xx++;
        latencies?.record(performance.now() - scheduled);
      }
      idle.push(c);
      dispatch();
    });
  };
  for (let i = 0; i < spec.connections; i++) conn();

  const tick = setInterval(() => {
    const now = performance.now();
    const target = Math.floor(((now - t0) * rate) / 1000);
    while (stats.offered < target) due.push(t0 + (stats.offered++ * 1000) / rate);
    if (due.length > stats.maxBacklog) stats.maxBacklog = due.length;
    dispatch();
  }, 1);
  return new Promise((resolve) => {
    setTimeout(() => {
      running = false;
      clearInterval(tick);
      for (const s of sockets) s.destroy();
      resolve(stats);
    }, durationS * 1000);
  });
}

async function runPaced() {
  await pacedRun(spec.warmupS);
  await sleep(200);
  const latencies = new Latencies();
  const s0 = snapshot();
  const stats = await pacedRun(spec.durationS, latencies);
  const s1 = snapshot();
  return { ...stats, latency: latencies.summary(), ...delta(s0, s1) };
}

// ---------------------------------------------------------------------------------------------
// WebSocket echo

async function runWebSocket() {
  const t = spec.target;
  const payload = Buffer.alloc(spec.messageBytes ?? 128, 'w').toString();
  const latencies = new Latencies();
  let measuring = false;
  let running = true;
  const stats = { requests: 0, bytes: 0, errors: 0, non2xx: 0, errorSamples: [] };
  const sockets = await Promise.all(
    Array.from(
      { length: spec.connections },
      () =>
        new Promise((resolve, reject) => {
          const ws = new WebSocket(`ws://127.0.0.1:${t.port}${spec.path}`, { headers: { host: t.host }, perMessageDeflate: false });
          let sentAt = 0;
          const send = () => {
            sentAt = performance.now();
            ws.send(payload);
          };
          ws.on('open', () => {
            resolve(ws);
            send();
          });
          ws.on('message', (data) => {
            if (measuring) {
              stats.requests++;
              stats.bytes += data.length;
              latencies.record(performance.now() - sentAt);
            }
            if (running) send();
          });
          ws.on('unexpected-response', (_req, res) => {
            stats.non2xx++;
            reject(new Error(`WebSocket upgrade answered ${res.statusCode}`));
          });
          ws.on('error', (err) => {
            if (!running) return;
            stats.errors++;
            if (stats.errorSamples.length < 5) stats.errorSamples.push(String(err.code ?? err.message));
            reject(err);
          });
          ws.on('close', () => {
            if (running) stats.errors++;
          });
        }),
    ),
  );
  await sleep(spec.warmupS * 1000);
  const s0 = snapshot();
  measuring = true;
  await sleep(spec.durationS * 1000);
  measuring = false;
  const s1 = snapshot();
  running = false;
  for (const ws of sockets) ws.terminate();
  return { ...stats, latency: latencies.summary(), ...delta(s0, s1) };
}

// ---------------------------------------------------------------------------------------------

const runners = { autocannon: runAutocannon, raw: runRaw, paced: runPaced, websocket: runWebSocket };
try {
  const result = await runners[spec.kind]();
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
} catch (err) {
  process.stdout.write(`${JSON.stringify({ failed: String(err?.stack ?? err) })}\n`);
  process.exit(1);
}
