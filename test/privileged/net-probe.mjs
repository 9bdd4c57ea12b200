// A tiny TCP/UDP/HTTP probe run inside a network namespace by the privileged tests (no ping or nc needed):
//   node net-probe.mjs listen HOST PORT   answers every connection with the peer's address
//   node net-probe.mjs connect HOST PORT  prints what the server answered; exit 1 on failure
// For the cluster tests (test/privileged/cluster-harness.ts), one JSON line per attempt:
//   node net-probe.mjs echo HOST PORT[,PORT…] NAME       TCP and UDP on each port: answers
//                                                           {"pod":NAME,"remote":peer address,"port":local port}
//                                                           (TCP: then closes; UDP: to each datagram)
//   node net-probe.mjs tcp HOST PORT COUNT TIMEOUT_MS     COUNT connections in turn: {"reply":…} or {"error":CODE}
//   node net-probe.mjs udp HOST PORT COUNT TIMEOUT_MS [SPORT]  COUNT datagrams, each from a fresh socket
//                                                           (or all from source port SPORT)
//   node net-probe.mjs http URL TIMEOUT_MS                {"status":…,"body":…} or {"error":CODE}
import { createSocket } from 'node:dgram';
import { connect, createServer } from 'node:net';

const [mode, host, port, ...rest] = process.argv.slice(2);
const print = (value) => process.stdout.write(`${JSON.stringify(value)}\n`);
const parseReply = (text) => {
  try {
    return JSON.parse(text);
  } catch {
    return { raw: text };
  }
};

if (mode === 'listen') {
  const server = createServer((socket) => socket.end(`${socket.remoteAddress}\n`));
  server.listen(Number(port), host, () => process.stdout.write('ready\n'));
} else if (mode === 'connect') {
  const socket = connect({ host, port: Number(port), timeout: Number(rest[0] ?? '3000') });
  let data = '';
  socket.on('data', (chunk) => (data += chunk));
  socket.on('end', () => {
    process.stdout.write(data);
    process.exit(0);
  });
  socket.on('timeout', () => {
    process.stderr.write('timeout\n');
    process.exit(1);
  });
  socket.on('error', (error) => {
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  });
} else if (mode === 'echo') {
  const name = rest[0];
  const ports = port.split(',').map(Number);
  let pending = ports.length * 2;
  const ready = () => --pending === 0 && process.stdout.write('ready\n');
  for (const p of ports) {
    createServer((socket) => socket.end(JSON.stringify({ pod: name, remote: socket.remoteAddress, port: p })))
      .on('error', (error) => fail(error))
      .listen(p, host, ready);
    const udp = createSocket('udp4');
    udp.on('message', (_msg, peer) => udp.send(JSON.stringify({ pod: name, remote: peer.address, port: p }), peer.port, peer.address));
    udp.on('error', (error) => fail(error));
    udp.bind(p, host, ready);
  }
} else if (mode === 'tcp') {
  const [count, timeout] = rest.map(Number);
  for (let i = 0; i < count; i++) print(await tcpOnce(host, Number(port), timeout));
  process.exit(0);
} else if (mode === 'udp') {
  const [count, timeout, sport] = rest.map(Number);
  const shared = sport ? await bound(sport) : undefined;
  for (let i = 0; i < count; i++) {
    const socket = shared ?? (await bound(0));
    print(await udpOnce(socket, host, Number(port), timeout));
    if (!shared) socket.close();
  }
  process.exit(0);
} else if (mode === 'http') {
  // `host` is the URL here, `port` the timeout.
  try {
    const response = await fetch(host, { signal: AbortSignal.timeout(Number(port ?? '3000')) });
    print({ status: response.status, body: await response.text() });
  } catch (error) {
    print({ error: error.cause?.code ?? error.name ?? String(error) });
  }
  process.exit(0);
} else {
  process.stderr.write('usage: net-probe.mjs listen|connect|echo|tcp|udp|http …\n');
  process.exit(2);
}

function fail(error) {
  process.stderr.write(`${error.message}\n`);
  process.exit(1);
}

function tcpOnce(host, port, timeout) {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout });
    let data = '';
    socket.on('data', (chunk) => (data += chunk));
    socket.on('end', () => resolve({ reply: parseReply(data) }));
    socket.on('timeout', () => {
      socket.destroy();
      resolve({ error: 'timeout' });
    });
    socket.on('error', (error) => resolve({ error: error.code ?? error.message }));
  });
}

function bound(sport) {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    socket.once('error', reject);
    socket.bind(sport, () => resolve(socket));
  });
}

function udpOnce(socket, host, port, timeout) {
  return new Promise((resolve) => {
    const done = (value) => {
      clearTimeout(timer);
      socket.off('message', onMessage);
      socket.off('error', onError);
      resolve(value);
    };
    const onMessage = (msg) => done({ reply: parseReply(msg.toString()) });
    const onError = (error) => done({ error: error.code ?? error.message });
    const timer = setTimeout(() => done({ error: 'timeout' }), timeout);
    socket.on('message', onMessage);
    socket.on('error', onError);
    socket.send('ping', port, host);
  });
}
