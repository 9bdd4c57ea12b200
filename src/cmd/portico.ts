#!/usr/bin/env node
// First: refuses an old Node with a clear message before undici is even loaded.
import './require-node.js';
import { readFileSync } from 'node:fs';
import { PorticoError } from '../lib/errors.js';
import { renderFlagHelp } from './flags.js';
import { ensureServingMemory } from '../lib/serving-memory.js';
interface Closable {
  close(): Promise<void>;
  /** The SIGTERM sequence (grace period, then drain); close() when absent. */
  shutdown?(): Promise<void>;
  /** A one-shot command: nothing keeps running. */
  done?: true;
}

interface CommandModule {
  flags?: Parameters<typeof renderFlagHelp>[0];
  run: (argv: readonly string[]) => Promise<Closable>;
}

interface Command {
  summary: string;
  /**
   * The command's module, imported only when it runs (or its help is asked for): `portico
   * controller` does not load the DNS server, the lab, autocannon… (resident memory per process).
   */
  load: () => Promise<CommandModule>;
  /** Keeps serving until a signal: SIGTERM/SIGINT are handled from before it starts. */
  serves?: true;
}

const COMMANDS: Record<string, Command> = {
  controller: { summary: 'Run the ingress controller', load: async () => { const m = await import('./controller-command.js'); return { flags: m.CONTROLLER_FLAGS, run: m.runControllerCommand }; }, serves: true },
  demo: { summary: 'Start echo backends and a controller over deploy/examples', load: async () => { const m = await import('./demo-command.js'); return { flags: m.DEMO_FLAGS, run: m.runDemoCommand }; }, serves: true },
  'service-proxy': { summary: "kube-proxy's job on nftables: ClusterIP, NodePort, LoadBalancer and externalIPs to endpoints", load: async () => { const m = await import('./service-proxy-command.js'); return { flags: m.SERVICE_PROXY_FLAGS, run: m.runServiceProxyCommand }; }, serves: true },
  'node-agent': { summary: 'Pod routes between nodes (host-gw or vxlan), masquerade, the CNI conflist; LoadBalancer IP announcement', load: async () => { const m = await import('./node-agent-command.js'); return { flags: m.NODE_AGENT_FLAGS, run: m.runNodeAgentCommand }; }, serves: true },
  dns: { summary: 'Cluster DNS (what CoreDNS\'s kubernetes plugin answers): Service and pod names, the rest forwarded', load: async () => { const m = await import('./dns-command.js'); return { flags: m.DNS_FLAGS, run: m.runDnsCommand }; }, serves: true },
  'lb-controller': { summary: 'Assign Services of type LoadBalancer addresses from a pool (MetalLB-style IPAM), leader-elected', load: async () => { const m = await import('./lb-controller-command.js'); return { flags: m.LB_CONTROLLER_FLAGS, run: m.runLbControllerCommand }; }, serves: true },
  lab: { summary: 'A multi-node cluster in network namespaces with Portico as its front door: lab up | apply -f | delete -f | scale | drain | status | down', load: async () => { const m = await import('./lab-command.js'); return { flags: m.LAB_FLAGS, run: m.runLabCommand }; } },
  cni: { summary: 'The CNI plugin (reads CNI_* and stdin); "portico cni install" installs portico-cni', load: async () => { const m = await import('./cni-command.js'); return { flags: m.CNI_FLAGS, run: m.runCniCommand }; } },
  'migrate-check': { summary: 'What Portico does with each ingress-nginx annotation and ConfigMap key: portico migrate-check -f FILE|DIR… (exit 1 when something would change)', load: async () => { const m = await import('./migrate-check-command.js'); return { flags: m.MIGRATE_CHECK_FLAGS, run: m.runMigrateCheckCommand }; } },
  certs: { summary: 'Write a local dev CA and leaf certificates (node-forge) into certs/', load: async () => { const m = await import('./certs-command.js'); return { flags: m.CERTS_FLAGS, run: m.runCertsCommand }; } },
  bench: { summary: 'Load-test a URL with autocannon: portico bench URL [--connections N --duration S …]', load: async () => { const m = await import('./bench-command.js'); return { flags: m.BENCH_FLAGS, run: m.runBenchCommand }; } },
};

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function usage(): string {
  const commands = Object.entries(COMMANDS)
    .map(([name, command]) => `  ${name.padEnd(14)}${command.summary}`)
    .join('\n');
  return `Usage: portico <command> [flags]\n\nCommands:\n${commands}\n  version       Print the version\n  help          Show help for a command: portico help <command>\n`;
}

async function main(argv: readonly string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    const topic = rest[0] !== undefined ? COMMANDS[rest[0]] : undefined;
    const flags = topic && (await topic.load()).flags;
    process.stdout.write(topic && flags ? `Usage: portico ${rest[0]} [flags]\n\n${topic.summary}.\n\nFlags:\n${renderFlagHelp(flags)}\n` : usage());
    return;
  }
  if (name === 'version' || name === '--version') {
    process.stdout.write(`portico ${version()} (node ${process.version})\n`);
    return;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`portico: unknown command ${JSON.stringify(name)}\n\n${usage()}`);
    process.exitCode = 2;
    return;
  }
  const help = rest.includes('--help') || rest.includes('-h');
  // Before the command loads: a process that replaces itself to get its memory settings has done nothing yet.
  if (command.serves && !help) ensureServingMemory();
  const module = await command.load();
  if (help) {
    process.stdout.write(`Usage: portico ${name} [flags]\n\n${command.summary}.\n\nFlags:\n${renderFlagHelp(module.flags ?? {})}\n`);
    return;
  }
  // Handlers first: a SIGTERM that lands while the listeners come up (they may already accept) must
  // still get the grace period and the drain, not Node's default instant death.
  let running: Closable | undefined;
  let stopping = false;
  const shutDown = (serving: Closable) => void (serving.shutdown ? serving.shutdown() : serving.close()).then(() => process.exit(0));
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(130); // a second Ctrl-C: don't wait for in-flight requests
    stopping = true;
    process.stderr.write(`\nportico: ${signal}, shutting down (a second ${signal} stops at once)…\n`);
    if (running !== undefined) shutDown(running); // else still starting: shut down once it has
  };
  if (command.serves) {
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  }
  try {
    running = await module.run(rest);
  } catch (error) {
    if (error instanceof PorticoError) {
      process.stderr.write(`portico ${name}: ${error.message} [${error.code}]\n`);
      if (error.code === 'PORTICO_ERR_CLI_FLAG') process.stderr.write(`Run 'portico help ${name}' for the flags.\n`);
      process.exitCode = error.code === 'PORTICO_ERR_CLI_FLAG' ? 2 : 1;
      return;
    }
    const code = (error as NodeJS.ErrnoException).code;
    process.stderr.write(`portico ${name}: ${(error as Error).message}${code ? ` [${code}]` : ''}\n`);
    process.exitCode = 1;
    return;
  }
  if (!running.done && stopping) shutDown(running);
}

await main(process.argv.slice(2));
