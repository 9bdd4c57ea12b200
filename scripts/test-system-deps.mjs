#!/usr/bin/env node
// pretest helper: the CNI tests in test/privileged need root, iproute2, nftables, util-linux and
// Debian's reference CNI plugins (containernetworking-plugins in /usr/lib/cni); the service-proxy
// cluster test also needs conntrack (the proxy clears stale UDP entries with it). When something is
// missing and we are root with apt-get, install it; otherwise say clearly what is missing (those
// tests then skip with the same message). Never fails the test run.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const PATH_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];
const has = (tool) => PATH_DIRS.some((dir) => existsSync(`${dir}/${tool}`));

const needs = [
  { pkg: 'iproute2', present: () => has('ip') },
  { pkg: 'nftables', present: () => has('nft') },
  { pkg: 'util-linux', present: () => has('nsenter') && has('flock') },
  { pkg: 'conntrack', present: () => has('conntrack') },
  // test/dns: end to end with a real resolver client (dig).
  { pkg: 'bind9-dnsutils', present: () => has('dig') },
  // test/privileged/lb-announce: gratuitous ARP on takeover, and ARP probes from the outside client.
  { pkg: 'iputils-arping', present: () => has('arping') },
  // test/http1: the parser is checked against a real nginx (never more permissive than it).
  { pkg: 'nginx-light', present: () => has('nginx') },
  // test/e2e/http2: curl --http2 and --http2-prior-knowledge (Debian's curl has nghttp2).
  { pkg: 'curl', present: () => has('curl') },
  { pkg: 'containernetworking-plugins', present: () => ['bridge', 'host-local', 'loopback'].every((p) => existsSync(`/usr/lib/cni/${p}`)) },
];

const missing = () => needs.filter((n) => !n.present()).map((n) => n.pkg);
let packages = missing();
if (packages.length === 0) process.exit(0);

const root = process.getuid?.() === 0;
const aptGet = has('apt-get');
if (!root || !aptGet) {
  console.warn(
    `portico: the privileged CNI tests need ${packages.join(', ')}, which ${packages.length === 1 ? 'is' : 'are'} not installed, ` +
      `and ${!root ? 'this is not root' : 'there is no apt-get'}: those tests will be skipped. ` +
      `Install them (apt-get install ${packages.join(' ')}) and run npm test as root to run them.`,
  );
  process.exit(0);
}

console.log(`portico: installing ${packages.join(', ')} for the CNI tests (apt-get)`);
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
const install = () => spawnSync('apt-get', ['install', '-y', '--no-install-recommends', ...packages], { stdio: 'inherit', env });
if (install().status !== 0) {
  spawnSync('apt-get', ['update'], { stdio: 'inherit', env });
  install();
}
packages = missing();
if (packages.length > 0) console.warn(`portico: could not install ${packages.join(', ')}; the privileged CNI tests will be skipped.`);
