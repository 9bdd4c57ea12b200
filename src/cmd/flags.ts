import { parseArgs } from 'node:util';
import { PorticoError } from '../lib/errors.js';

export type FlagSpec =
  | { type: 'string'; default?: string; description: string; choices?: readonly string[] }
  | { type: 'port'; default: number; description: string }
  | { type: 'boolean'; description: string };

export type FlagValues<S extends Record<string, FlagSpec>> = {
  [K in keyof S]: S[K] extends { type: 'boolean' } ? boolean : S[K] extends { type: 'port' } ? number : string | undefined;
};

/**
 * Parses `--flag value` / `--flag=value` arguments against a spec. Unknown flags, missing
 * values and bad values throw PORTICO_ERR_CLI_FLAG naming the flag.
 */
export function parseFlags<S extends Record<string, FlagSpec>>(argv: readonly string[], spec: S): FlagValues<S> {
  const options: Record<string, { type: 'string' | 'boolean' }> = {};
  for (const [name, flag] of Object.entries(spec)) options[name] = { type: flag.type === 'boolean' ? 'boolean' : 'string' };
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }));
  } catch (error) {
    throw new PorticoError('PORTICO_ERR_CLI_FLAG', (error as Error).message.replace(/\. To specify a positional.*$/s, ''));
  }
  const result: Record<string, unknown> = {};
  for (const [name, flag] of Object.entries(spec)) {
    const raw = values[name];
    switch (flag.type) {
      case 'boolean':
        result[name] = raw === true;
        break;
      case 'port': {
        if (raw === undefined) {
          result[name] = flag.default;
          break;
        }
        const port = Number(raw);
        if (!/^\d+$/.test(String(raw)) || port > 65535) {
          throw new PorticoError('PORTICO_ERR_CLI_FLAG', `--${name} must be a port number 0-65535, got ${JSON.stringify(raw)}`);
        }
        result[name] = port;
        break;
      }
      case 'string': {
        const value = (raw as string | undefined) ?? flag.default;
        if (value !== undefined && value === '') {
          throw new PorticoError('PORTICO_ERR_CLI_FLAG', `--${name} must not be empty`);
        }
        if (value !== undefined && flag.choices && !flag.choices.includes(value)) {
          throw new PorticoError('PORTICO_ERR_CLI_FLAG', `--${name} must be one of ${flag.choices.join(', ')}, got ${JSON.stringify(value)}`);
        }
        result[name] = value;
        break;
      }
    }
  }
  return result as FlagValues<S>;
}

/** Help text lines for a flag spec, aligned. */
export function renderFlagHelp(spec: Record<string, FlagSpec>): string {
  const rows = Object.entries(spec).map(([name, flag]) => {
    const left = `--${name}${flag.type === 'boolean' ? '' : flag.type === 'port' ? ' N' : ' VALUE'}`;
    const def = 'default' in flag && flag.default !== undefined ? ` (default ${flag.default})` : '';
    return [left, `${flag.description}${def}`] as const;
  });
  const width = Math.max(...rows.map(([left]) => left.length)) + 2;
  return rows.map(([left, right]) => `  ${left.padEnd(width)}${right}`).join('\n');
}

/** `500ms`, `1s`, `2m`, `1h`, or a bare number of seconds, as kube-proxy's durations; in ms. */
export function parseDurationFlag(name: string, value: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim());
  if (!match) throw new PorticoError('PORTICO_ERR_CLI_FLAG', `--${name} must be a duration like 500ms, 1s, 2m, got ${JSON.stringify(value)}`);
  const scale = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] ?? 's']!;
  return Math.round(Number(match[1]) * scale);
}

/** `--snippet-annotations refuse|ignore`. */
export function parseSnippetAnnotations(raw: string | undefined): 'refuse' | 'ignore' {
  if (raw === undefined || raw === 'refuse' || raw === 'ignore') return raw ?? 'refuse';
  throw new PorticoError('PORTICO_ERR_CLI_FLAG', `--snippet-annotations must be refuse or ignore, got ${JSON.stringify(raw)}`);
}
