import { describe, expect, it } from 'vitest';
import { compilePathRegex, compileRewriteRegex, compileUserRegex, foldCase } from '../../src/lib/path-regex.js';

describe('user regular expressions', () => {
  it('run on the linear-time engine (flag l), so no crafted path can make them backtrack', () => {
    for (const parsed of [compilePathRegex('/(a|aa)*$'), compileRewriteRegex('/v1/(.*)/(.*)\\.json'), compileUserRegex('^beta-')]) {
      expect(parsed.ok && parsed.regex.flags).toBe('l');
    }
    const exponential = compilePathRegex('/(a|aa)*$');
    expect(exponential.ok && exponential.regex.test(`/${'a'.repeat(64)}!`)).toBe(false);
  });

  it('are case-insensitive on ASCII letters by rewriting the pattern, escapes and group names kept', () => {
    expect(foldCase('/Api/[a-f0-9]+\\d{2}(?<Name>x)[^A-Z_]\\W')).toBe('/[Aa][pP][iI]/[a-f0-9A-F]+\\d{2}(?<Name>[xX])[^A-Z_a-z]\\W');
    const path = compilePathRegex('/api/v[0-9]+/(.*)');
    expect(path.ok && path.regex.exec('/API/V2/Users')?.[1]).toBe('Users'); // captures keep the request's case
    const header = compileUserRegex('^beta');
    expect(header.ok && [header.regex.test('beta-1'), header.regex.test('Beta-1')]).toEqual([true, false]);
  });

  it('refuses lookarounds and backreferences (they need backtracking) and invalid syntax, saying which', () => {
    expect(compilePathRegex('/(?=x)y')).toMatchObject({ ok: false, reason: expect.stringContaining('needs backtracking') });
    expect(compilePathRegex('/(a)\\1')).toMatchObject({ ok: false, reason: expect.stringContaining('needs backtracking') });
    expect(compilePathRegex('/bad(')).toMatchObject({ ok: false, reason: expect.stringContaining('Unterminated group') });
    expect(compilePathRegex('relative')).toMatchObject({ ok: false, reason: expect.stringContaining('must start with "/"') });
  });
});
