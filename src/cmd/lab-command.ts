import { PorticoError } from '../lib/errors.js';
import { checkLabName } from '../lab/layout.js';
import { labApply, labDown, labDrain, labScale, labStatus, labUp, type LabStatus } from '../lab/lab.js';
import { parseFlags, type FlagSpec } from './flags.js';
import { expandShortFlags, readInputs } from './manifest-inputs.js';

// `portico lab up|apply|delete|scale|drain|status|down`: every subcommand takes --name.

export const LAB_FLAGS = {
  name: { type: 'string', default: 'portico', description: 'The lab (1-8 lower-case letters or digits): namespaces, links and /run/portico-lab/<name> carry it' },
  nodes: { type: 'string', default: '3', description: 'up: how many nodes (1-40)' },
  mode: { type: 'string', default: 'vxlan', choices: ['host-gw', 'vxlan'], description: 'up: how the node agents route pods between nodes' },
  subnet: { type: 'string', default: '10.250.0.0/24', description: 'up: the underlay /24: the host gets .1, nodes .11 and up, LoadBalancer IPs .200-.250' },
  filename: { type: 'string', description: 'apply/delete: a manifest file, or - for stdin (repeat -f for more)' },
  replicas: { type: 'string', description: 'scale: the new replica count' },
  namespace: { type: 'string', default: 'default', description: 'scale: the deployment\'s namespace' },
  output: { type: 'string', choices: ['json', 'text'], default: 'text', description: 'status: json or text' },
} as const satisfies Record<string, FlagSpec>;

const SUBCOMMANDS = ['up', 'apply', 'delete', 'scale', 'drain', 'status', 'down'];

function renderStatus(status: LabStatus): string {
  const lines = ['NODES'];
  for (const n of status.nodes) lines.push(`  ${n.name.padEnd(10)} ${n.address.padEnd(15)} ${n.podCIDR.padEnd(16)} ${n.ready ? 'Ready' : 'NotReady'}${n.schedulable ? '' : ',SchedulingDisabled'}`);
  lines.push('PODS');
  for (const p of status.pods) lines.push(`  ${`${p.namespace}/${p.name}`.padEnd(32)} ${p.node.padEnd(10)} ${p.ip.padEnd(15)} ${p.ready ? 'Ready' : 'NotReady'}`);
  lines.push('SERVICES');
  for (const s of status.services) {
    const ports = s.ports.map((p) => `${p.port}${p.nodePort ? `:${p.nodePort}` : ''}/${p.protocol}`).join(',');
    lines.push(`  ${`${s.namespace}/${s.name}`.padEnd(32)} ${s.type.padEnd(12)} ${s.clusterIP.padEnd(15)} ${(s.loadBalancerIP ?? '-').padEnd(15)} ${ports}`);
  }
  return `${lines.join('\n')}\n`;
}

export async function runLabCommand(argv: readonly string[]): Promise<{ close(): Promise<void>; done: true }> {
  const [sub, ...rest] = argv;
  if (sub === undefined || !SUBCOMMANDS.includes(sub)) throw new PorticoError('PORTICO_ERR_CLI_FLAG', `portico lab needs a subcommand: ${SUBCOMMANDS.join(', ')}`);
  const { args, files, positionals } = expandShortFlags(rest);
  const flags = parseFlags(args, LAB_FLAGS);
  const name = flags.name!;
  checkLabName(name);
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const done = { close: async () => undefined, done: true as const };
  switch (sub) {
    case 'up': {
      const nodes = Number(flags.nodes);
      const { layout, loadBalancerIP } = await labUp({ name, nodes, mode: flags.mode as 'host-gw' | 'vxlan', subnet: flags.subnet!, log });
      const node = layout.nodes[0]!;
      process.stdout.write(
        [
          `Portico answers on the LoadBalancer IP ${loadBalancerIP} and on every node's NodePorts 30080 (HTTP) and 30443 (HTTPS):`,
          `  curl -s http://${loadBalancerIP}/ -H 'Host: example.test'`,
          `  curl -s http://${node.address}:30080/ -H 'Host: example.test'`,
          `  curl -sk https://${loadBalancerIP}/ --resolve example.test:443:${loadBalancerIP}`,
          `Apply workloads with: portico lab apply --name ${name} -f FILE; see: portico lab status --name ${name}`,
          '',
        ].join('\n'),
      );
      return done;
    }
    case 'apply':
    case 'delete': {
      const result = await labApply({ name, texts: await readInputs(files), delete: sub === 'delete', log });
      for (const line of result.applied) process.stdout.write(`${line} ${sub === 'delete' ? 'deleted' : 'applied'}\n`);
      for (const problem of result.problems) process.stderr.write(`error: ${problem}\n`);
      if (result.problems.length > 0) process.exitCode = 1;
      return done;
    }
    case 'scale': {
      const target = positionals[0] ?? '';
      const match = /^(?:deployment|deploy|deployments|deployment\.apps)\/([a-z0-9-]+)$/.exec(target);
      if (!match) throw new PorticoError('PORTICO_ERR_CLI_FLAG', `scale needs deployment/NAME, got ${JSON.stringify(target)}`);
      const replicas = Number(flags.replicas);
      if (flags.replicas === undefined || !Number.isInteger(replicas) || replicas < 0 || replicas > 50) throw new PorticoError('PORTICO_ERR_CLI_FLAG', `--replicas must be 0-50, got ${JSON.stringify(flags.replicas ?? null)}`);
      await labScale({ name, deployment: match[1]!, namespace: flags.namespace!, replicas, log });
      process.stdout.write(`deployment.apps/${match[1]} scaled to ${replicas}\n`);
      return done;
    }
    case 'drain': {
      const node = positionals[0];
      if (!node) throw new PorticoError('PORTICO_ERR_CLI_FLAG', 'drain needs a node name (portico lab drain node-2)');
      await labDrain({ name, node, log });
      process.stdout.write(`node/${node} drained\n`);
      return done;
    }
    case 'status': {
      const status = await labStatus({ name });
      process.stdout.write(flags.output === 'json' ? `${JSON.stringify(status, null, 2)}\n` : renderStatus(status));
      return done;
    }
    case 'down': {
      await labDown({ name, log });
      return done;
    }
  }
  return done;
}
