import { describe, expect, it } from 'vitest';
import { newUpstreamEdits, type StepRequest } from '../../src/proxy/policies/pipeline.js';
import { sourceRangeStep } from '../../src/proxy/policies/source-range.js';
import { sslRedirectStep } from '../../src/proxy/policies/ssl-redirect.js';
import { forwardedPrefixStep, upstreamVhostStep } from '../../src/proxy/policies/upstream-headers.js';

const request = (over: Partial<StepRequest> = {}): StepRequest => ({ method: 'GET', host: 'a.example', target: '/x?y=1', proto: 'http', clientAddress: '192.0.2.10', header: () => undefined, ...over });

describe('route steps', () => {
  it('source range: deny first, then allow; no allow list admits the rest; IPv6; an unparsable peer is refused', () => {
    const step = sourceRangeStep({ allow: ['192.0.2.0/24', '2001:db8::/32'], deny: ['192.0.2.10/32'] });
    const verdict = (clientAddress: string) => step.run(request({ clientAddress }), newUpstreamEdits());
    expect(verdict('192.0.2.10')).toMatchObject({ status: 403, code: 'PORTICO_ERR_PROXY_FORBIDDEN' });
    expect(verdict('192.0.2.11')).toBeUndefined();
    expect(verdict('198.51.100.1')).toMatchObject({ status: 403 });
    expect(verdict('2001:db8::5')).toBeUndefined();
    expect(verdict('2001:db9::5')).toMatchObject({ status: 403 });
    expect(verdict('')).toMatchObject({ status: 403 });
    // The cached verdict is the same verdict.
    expect(verdict('192.0.2.10')).toMatchObject({ status: 403 });
    const denyOnly = sourceRangeStep({ deny: ['10.0.0.0/8'] });
    expect(denyOnly.run(request({ clientAddress: '10.2.3.4' }), newUpstreamEdits())).toMatchObject({ status: 403 });
    expect(denyOnly.run(request({ clientAddress: '11.2.3.4' }), newUpstreamEdits())).toBeUndefined();
    expect(sourceRangeStep({ allow: [] }).run(request(), newUpstreamEdits())).toMatchObject({ status: 403 });
  });

  it('ssl-redirect: only plain HTTP, to https on the same host without its port, target kept', () => {
    const step = sslRedirectStep();
    expect(step.run(request({ host: 'Shop.example:8080' }), newUpstreamEdits())).toEqual({ kind: 'redirect', status: 308, location: 'https://Shop.example/x?y=1' });
    expect(step.run(request({ host: '[2001:db8::1]:80' }), newUpstreamEdits())).toMatchObject({ location: 'https://[2001:db8::1]/x?y=1' });
    expect(step.run(request({ proto: 'https' }), newUpstreamEdits())).toBeUndefined();
  });

  it('upstream-vhost and x-forwarded-prefix edit the upstream request and never answer', () => {
    const edits = newUpstreamEdits();
    expect(upstreamVhostStep('in.svc:8080').run(request(), edits)).toBeUndefined();
    expect(forwardedPrefixStep('/shop').run(request(), edits)).toBeUndefined();
    expect(edits).toEqual({ target: undefined, host: 'in.svc:8080', headers: [['X-Forwarded-Prefix', '/shop']] });
  });
});
