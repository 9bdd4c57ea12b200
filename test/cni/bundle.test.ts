import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bundle, relativeImports } from '../../src/cni/bundle.js';
import { collectModules, renderConflist, renderLauncher } from '../../src/cni/install.js';

async function evaluate(source: string): Promise<Record<string, unknown>> {
  return import(`data:text/javascript;base64,${Buffer.from(source).toString('base64')}`);
}

describe('bundle', () => {
  it('joins modules in dependency order with their own scopes', async () => {
    const modules = new Map([
      ['cmd/main.js', "import { twice } from '../lib/math.js';\nimport * as text from '../lib/text.js';\nimport { join as joinPath } from 'node:path';\nexport const answer = text.label(twice(21));\nexport const path = joinPath('a', 'b');\n"],
      ['lib/math.js', "const helper = 2;\nexport function twice(n) {\n    return n * helper;\n}\n//# sourceMappingURL=math.js.map\n"],
      ['lib/text.js', "import { twice } from './math.js';\nconst helper = 'answer';\nfunction label(n) {\n    return `${helper}=${n}/${twice(1)}`;\n}\nexport { label };\nexport class Unused {\n}\n"],
    ]);
    const out = bundle({ modules, entry: 'cmd/main.js' });
    expect(out.indexOf('// lib/math.js')).toBeLessThan(out.indexOf('// lib/text.js'));
    expect(out).not.toContain('sourceMappingURL');
    const module = await evaluate(out);
    expect(module['answer']).toBe('answer=42/2');
    expect(module['path']).toBe('a/b');
  });

  it('refuses what it does not understand', () => {
    const one = (source: string) => bundle({ modules: new Map([['main.js', source]]), entry: 'main.js' });
    expect(() => bundle({ modules: new Map([['main.js', "import x from './x.js';\n"], ['x.js', 'export const y = 1;\n']]), entry: 'main.js' })).toThrow(/default imports are not bundled/);
    expect(() => one("import { pino } from 'pino';\n")).toThrow(/imports package "pino"/);
    expect(() => one("export * from './x.js';\n")).toThrow(/re-exports/);
    expect(() => one('export default 1;\n')).toThrow(/default exports/);
    expect(() => one("const m = await import('./x.js');\n")).toThrow(/dynamic import/);
    expect(() => bundle({ modules: new Map([['a.js', "import { b } from './b.js';\n"], ['b.js', "import { a } from './a.js';\nexport const b = 1;\n"]]), entry: 'a.js' })).toThrow(/import cycle/);
    expect(() => bundle({ modules: new Map([['a.js', "import { b } from './b.js';\n"]]), entry: 'a.js' })).toThrow(/module b.js is missing/);
  });

  it('resolves relative imports', () => {
    expect(relativeImports('cni/bridge/bridge.js', "import { a } from '../skel.js';\nimport { b } from './plan.js';\nimport { c } from 'node:fs';\n")).toEqual(['cni/skel.js', 'cni/bridge/plan.js']);
  });

  const dist = join(import.meta.dirname, '..', '..', 'dist');
  it.skipIf(!existsSync(join(dist, 'cmd', 'portico-cni.js')))('bundles the compiled plugin, which imports only node: built-ins', async () => {
    const modules = await collectModules(dist);
    expect([...modules.keys()].every((path) => /^(cmd|cni|host|nft|lib)\//.test(path))).toBe(true);
    expect(modules.has('cmd/portico.js')).toBe(false);
    const out = bundle({ modules, entry: 'cmd/portico-cni.js' });
    expect(out).toMatch(/^import \* as __builtin_child_process from 'node:child_process';/);
    expect(out).not.toMatch(/from '(?!node:)/);
  });
});

describe('install helpers', () => {
  it('writes a launcher that finds its version directory from $0', () => {
    const text = renderLauncher('0123456789abcdef');
    expect(text.startsWith('#!/bin/sh\n')).toBe(true);
    expect(text).toContain('v="$dir/.portico-cni/0123456789abcdef"');
    expect(text).toContain('exec "$v/node" "$v/portico-cni.mjs" "$@"');
  });

  it('fills {{podCIDR}} in a conflist template and checks its shape', () => {
    const template = JSON.stringify({ cniVersion: '1.0.0', name: 'portico', plugins: [{ type: 'portico-cni', ipam: { ranges: [[{ subnet: '{{podCIDR}}' }]] } }] });
    expect(JSON.parse(renderConflist(template, { podCidr: '10.244.3.0/24' })).plugins[0].ipam.ranges[0][0].subnet).toBe('10.244.3.0/24');
    expect(() => renderConflist(template, {})).toThrow(/no pod CIDR was given/);
    expect(() => renderConflist('{"name":"x"}', {})).toThrow(/non-empty "plugins" list/);
    expect(() => renderConflist('{', {})).toThrow(/not JSON/);
  });
});
