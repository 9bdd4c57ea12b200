import { describe, expect, it } from 'vitest';
import { parseIngressHost } from '../../src/compile/ingress-host.js';

describe('parseIngressHost', () => {
  it.each([
    ['foo.bar.com', 'foo.bar.com', false],
    ['FOO.Bar.com', 'foo.bar.com', false],
    ['localhost', 'localhost', false],
    ['a-1.b2.c', 'a-1.b2.c', false],
    ['*.example.com', '*.example.com', true],
    ['*.COM', '*.com', true],
    ['999.1.1.1.example', '999.1.1.1.example', false],
  ])('accepts %s', (raw, host, wildcard) => {
    expect(parseIngressHost(raw)).toEqual({ ok: true, host, wildcard });
  });

  it.each([
    ['10.0.0.1', 'IP address'],
    ['::1', 'IP address'],
    ['[::1]', 'IP address'],
    ['foo.com:80', 'must not include a port'],
    ['*', 'whole first label'],
    ['*.', 'no DNS name'],
    ['*foo.com', 'whole first label'],
    ['foo.*.com', 'whole first label'],
    ['*.*.com', 'whole first label'],
    ['foo..com', 'not a valid DNS name'],
    ['-foo.com', 'not a valid DNS name'],
    ['foo-.com', 'not a valid DNS name'],
    ['foo_bar.com', 'not a valid DNS name'],
    ['foo.com.', 'not a valid DNS name'],
    ['.foo.com', 'not a valid DNS name'],
    ['föö.com', 'not a valid DNS name'],
    [`${'a'.repeat(64)}.com`, 'label longer than 63'],
    [`${'a.'.repeat(127)}com`, 'longer than 253'],
  ])('rejects %s', (raw, reason) => {
    const result = parseIngressHost(raw);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toContain(reason);
  });
});
