// The churn benchmark's load generator, in its own thread so that the churn writer and the
// propagation probe in the main thread are not delayed by it (the same mix as startLoad in
// test/helpers/churn.ts: keep-alive, new-connection and HTTPS-per-request GETs, keep-alive POSTs).
// Responses are checked here for status, Host and body; which Service answered each host is sent
// back so the main thread can check it against every Service the host pointed at.
import { Agent, request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { parentPort, workerData } from 'node:worker_threads';

const { httpPort, httpsPort, hosts, fingerprints, load, rate } = workerData;
const result = { ok: 0, handshakes: 0, failures: [], wrongCertificates: [], served: {} };
let stopped = false;
let serial = 0;
const agent = new Agent({ keepAlive: true, maxSockets: load.keepAlive + load.post });
const host = (h) => `h${h}.churn.test`;

function one(kind) {
  return new Promise((resolve) => {
    const h = Math.floor(Math.random() * hosts);
    const body = kind === 'post' ? `payload-${serial++}-${'x'.repeat(200)}` : undefined;
    const options = {
      host: '127.0.0.1',
      path: `/${kind}`,
      method: body === undefined ? 'GET' : 'POST',
      headers: { host: host(h), ...(body !== undefined && { 'content-length': String(body.length) }) },
    };
    const fail = (why) => {
      if (result.failures.length < 1000) result.failures.push(`${new Date().toISOString()} ${kind} ${host(h)}: ${why}`);
      else result.failures.push('');
      resolve();
    };
    const onResponse = (res) => {
      if (kind === 'https') {
        result.handshakes++;
        const fingerprint = res.socket.getPeerCertificate().fingerprint256;
        if (!fingerprints[h].includes(fingerprint)) result.wrongCertificates.push(`${host(h)}: ${fingerprint}`);
      }
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('error', (e) => fail(`response ${e.message}`));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let json = {};
        try {
          json = JSON.parse(text);
        } catch {
          // reported below
        }
        if (res.statusCode !== 200 || json.host !== host(h) || (body !== undefined && json.body !== body)) return fail(`${res.statusCode} ${text.slice(0, 120)}`);
        (result.served[h] ??= {})[json.service] = true;
        result.ok++;
        resolve();
      });
    };
    const req =
      kind === 'https'
        ? httpsRequest({ ...options, port: httpsPort, servername: host(h), agent: false, rejectUnauthorized: false }, onResponse)
        : httpRequest({ ...options, port: httpPort, agent: kind === 'new' ? false : agent }, onResponse);
    req.on('error', (e) => fail(e.message));
    req.end(body);
  });
}

const workerCount = load.keepAlive + load.newConnection + load.https + load.post;
/** Open-ish loop: each worker paces itself to rate / workers requests a second (0: as fast as it can). */
async function worker(kind) {
  const interval = rate > 0 ? (1000 * workerCount) / rate : 0;
  let next = performance.now() + Math.random() * interval;
  while (!stopped) {
    const wait = next - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    next = Math.max(next + interval, performance.now() - interval);
    await one(kind);
  }
}

const workers = [
  ...Array.from({ length: load.keepAlive }, () => worker('keep-alive')),
  ...Array.from({ length: load.newConnection }, () => worker('new')),
  ...Array.from({ length: load.https }, () => worker('https')),
  ...Array.from({ length: load.post }, () => worker('post')),
];
parentPort.on('message', async (message) => {
  if (message !== 'stop') return;
  stopped = true;
  await Promise.all(workers);
  agent.destroy();
  parentPort.postMessage(result);
});
