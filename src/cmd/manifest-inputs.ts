// `-f FILE` inputs for the commands that read manifests the way kubectl does (lab apply/delete,
// migrate-check): the short flags taken out before the shared flag parser, then the files read.
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PorticoError } from '../lib/errors.js';

/** `-f A -f B` and `-n NS`, `-o json` short forms, before the shared flag parser. */
export function expandShortFlags(argv: readonly string[]): { args: string[]; files: string[]; positionals: string[] } {
  const args: string[] = [];
  const files: string[] = [];
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '-f' || arg === '--filename') files.push(argv[++i] ?? '');
    else if (arg.startsWith('--filename=')) files.push(arg.slice('--filename='.length));
    else if (arg === '-n') args.push('--namespace', argv[++i] ?? '');
    else if (arg === '-o') args.push('--output', argv[++i] ?? '');
    else if (!arg.startsWith('-') && (args.length === 0 || !args[args.length - 1]!.startsWith('--') || args[args.length - 1]!.includes('='))) positionals.push(arg);
    else args.push(arg);
  }
  return { args, files, positionals };
}

/** The text of each `-f` input: a file, `-` (stdin), or with `directories` a directory's *.yaml/*.yml/*.json files. */
export async function readInputs(files: readonly string[], options: { readonly directories?: boolean } = {}): Promise<Array<{ text: string; source: string }>> {
  if (files.length === 0) throw new PorticoError('PORTICO_ERR_CLI_FLAG', 'give the objects with -f FILE (or -f - for stdin)');
  const out: Array<{ text: string; source: string }> = [];
  for (const file of files) {
    if (file === '-') {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      out.push({ text: Buffer.concat(chunks).toString('utf8'), source: 'stdin' });
      continue;
    }
    const cannot = (error: NodeJS.ErrnoException): never => {
      throw new PorticoError('PORTICO_ERR_MANIFEST_READ', `cannot read ${file}: ${error.message}`);
    };
    if (options.directories && (await stat(file).catch(cannot)).isDirectory()) {
      const names = (await readdir(file).catch(cannot)).filter((n) => /\.(ya?ml|json)$/.test(n)).sort();
      for (const name of names) out.push({ text: await readFile(join(file, name), 'utf8').catch(cannot), source: join(file, name) });
      continue;
    }
    out.push({ text: await readFile(file, 'utf8').catch(cannot), source: file });
  }
  return out;
}
