import { describe, expect, it } from 'vitest';
import { newRequestId } from '../../src/lib/request-id.js';

describe('newRequestId', () => {
  it('is a version-4 UUID in lower-case hex', () => {
    for (let i = 0; i < 600; i++) expect(newRequestId()).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('never repeats, across refills of its random pool', () => {
    const ids = new Set<string>();
    for (let i = 0; i < 5_000; i++) ids.add(newRequestId());
    expect(ids.size).toBe(5_000);
  });

  it('uses every hex digit in the random positions (not a fixed or truncated source)', () => {
    const seen = new Map<number, Set<string>>();
    for (let i = 0; i < 2_000; i++) {
      const id = newRequestId();
      for (const at of [0, 9, 15, 20, 35]) {
        if (!seen.has(at)) seen.set(at, new Set());
        seen.get(at)!.add(id[at]!);
      }
    }
    for (const digits of seen.values()) expect(digits.size).toBe(16);
  });
});
