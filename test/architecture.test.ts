import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

// Which src/ folders each folder may import. Pure stages (compile, routing) never reach I/O
// folders; nothing imports cmd/. See README "Layout".
const ALLOWED: Record<string, readonly string[]> = {
  lib: [],
  model: ['lib'],
  store: ['model', 'lib'],
  source: ['store', 'model', 'lib'],
  endpoints: ['model', 'lib'],
  compile: ['endpoints', 'model', 'lib'],
  routing: ['model', 'lib'],
  balancer: ['model', 'lib'],
  proxy: ['balancer', 'model', 'lib'],
  echo: ['lib'],
  tls: ['model', 'lib'],
  k8s: ['source', 'store', 'model', 'lib'],
  metrics: ['model', 'lib'],
  controller: ['tls', 'k8s', 'metrics', 'compile', 'routing', 'balancer', 'proxy', 'source', 'store', 'echo', 'model', 'lib'],
  host: ['lib'],
  nft: ['lib'],
  cni: ['host', 'nft', 'model', 'lib'],
  'service-proxy': ['endpoints', 'nft', 'source', 'store', 'k8s', 'model', 'lib'],
  cmd: ['service-proxy', 'endpoints', 'tls', 'k8s', 'metrics', 'controller', 'compile', 'routing', 'balancer', 'proxy', 'source', 'store', 'echo', 'cni', 'host', 'nft', 'model', 'lib'],
};

/** Node built-ins the pure folders must not use (they would make compile output depend on the world). */
const IO_MODULES = /^node:(fs|fs\/promises|net|http|https|tls|child_process|dgram|dns)$/;
const PURE = new Set(['compile', 'endpoints', 'routing', 'model']);

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sourceFiles(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [],
  );
}

describe('architecture', () => {
  const root = join(import.meta.dirname, '..', 'src');
  const files = sourceFiles(root);

  it('has a rule for every src folder', () => {
    const folders = new Set(files.map((file) => relative(root, file).split('/')[0]));
    expect([...folders].filter((folder) => !(folder! in ALLOWED))).toEqual([]);
  });

  it('imports only along the allowed edges', () => {
    const violations: string[] = [];
    for (const file of files) {
      const folder = relative(root, file).split('/')[0]!;
      const text = readFileSync(file, 'utf8');
      for (const match of text.matchAll(/(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/g)) {
        const specifier = match[1]!;
        if (specifier.startsWith('.')) {
          const target = relative(root, join(file, '..', specifier)).split('/')[0]!;
          if (target !== folder && !ALLOWED[folder]?.includes(target)) violations.push(`${relative(root, file)} → ${specifier}`);
        } else if (PURE.has(folder) && IO_MODULES.test(specifier)) {
          violations.push(`${relative(root, file)} → ${specifier} (I/O in a pure folder)`);
        }
      }
    }
    expect(violations).toEqual([]);
  });
});
