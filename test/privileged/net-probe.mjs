// A tiny TCP probe run inside a network namespace by the privileged tests (no ping or nc needed):
//   node net-probe.mjs listen HOST PORT   answers every connection with the peer's address
//   node net-probe.mjs connect HOST PORT  prints what the server answered; exit 1 on failure
import { connect, createServer } from 'node:net';

const [mode, host, port, timeout = '3000'] = process.argv.slice(2);
if (mode === 'listen') {
  const server = createServer((socket) => socket.end(`${socket.remoteAddress}\n`));
  server.listen(Number(port), host, () => process.stdout.write('ready\n'));
} else if (mode === 'connect') {
  const socket = connect({ host, port: Number(port), timeout: Number(timeout) });
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
} else {
  process.stderr.write('usage: net-probe.mjs listen|connect HOST PORT\n');
  process.exit(2);
}
