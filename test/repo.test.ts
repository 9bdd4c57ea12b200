// Facts about the repository a new user reads first: the licence and what the READMEs claim.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const read = (file: string) => readFileSync(join(root, file), 'utf8');
const pkg = JSON.parse(read('package.json')) as { license: string; dependencies: Record<string, string>; devDependencies: Record<string, string> };

describe('repository', () => {
  it('ships the licence package.json names (Apache-2.0)', () => {
    expect(pkg.license).toBe('Apache-2.0');
    const license = read('LICENSE');
    expect(license).toMatch(/^\s*Apache License\s+Version 2\.0, January 2004\s+http:\/\/www\.apache\.org\/licenses\//);
    expect(license).toContain('END OF TERMS AND CONDITIONS');
  });

  it('the READMEs call each package what package.json makes it (dependency or devDependency)', () => {
    const text = ['README.md', 'bench/README.md'].map(read).join('\n');
    const wrong: string[] = [];
    for (const name of Object.keys(pkg.dependencies)) {
      if (new RegExp(`\\b${name}\\W+(?:is\\s+)?an?\\s+devDependency`, 'i').test(text)) wrong.push(`${name} is called a devDependency`);
    }
    for (const name of Object.keys(pkg.devDependencies)) {
      if (new RegExp(`\\b${name}\\W+(?:is\\s+)?an?\\s+(?:runtime\\s+)?dependency`, 'i').test(text)) wrong.push(`${name} is called a dependency`);
    }
    expect(wrong).toEqual([]);
  });
});
