import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_CATALOG, PorticoError } from '../../src/lib/errors.js';

describe('error catalog', () => {
  const readme = readFileSync(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8');

  it('documents every code in README.md', () => {
    const missing = Object.keys(ERROR_CATALOG).filter((code) => !readme.includes(`\`${code}\``));
    expect(missing).toEqual([]);
  });

  it('documents no code that does not exist', () => {
    const documented = [...readme.matchAll(/`(PORTICO_ERR_[A-Z_]+)`/g)].map((m) => m[1]!);
    expect(documented.filter((code) => !(code in ERROR_CATALOG))).toEqual([]);
  });

  it('uses the PORTICO_ERR_<AREA>_<WHAT> form', () => {
    for (const code of Object.keys(ERROR_CATALOG)) expect(code).toMatch(/^PORTICO_ERR_[A-Z][A-Z0-9]*_[A-Z_]+$/);
  });

  it('carries its code', () => {
    const error = new PorticoError('PORTICO_ERR_CLI_FLAG', 'bad');
    expect(error).toBeInstanceOf(Error);
    expect(error.code).toBe('PORTICO_ERR_CLI_FLAG');
  });
});
