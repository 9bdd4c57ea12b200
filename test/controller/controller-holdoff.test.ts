import { describe, expect, it } from 'vitest';
import { DEFAULT_COMPILE_OPTIONS } from '../../src/compile/index.js';
import { Controller } from '../../src/controller/controller.js';
import { ObjectStore } from '../../src/store/object-store.js';
import { captureLogger } from '../helpers/capture-logger.js';
import { ingress, ingressClass, prefix, rule } from '../helpers/objects.js';

describe('Controller holdoff', () => {
  it('caps a burst at 50 ms, or at twice the last build when builds are slower', () => {
    const store = new ObjectStore();
    store.upsert(ingressClass('portico'));
    let clock = 0;
    let step = 300; // each clock read advances this much: a build "takes" one step
    const controller = new Controller({
      store,
      compile: DEFAULT_COMPILE_OPTIONS,
      routes: { setRoutes: () => undefined },
      backends: { sync: () => undefined },
      logger: captureLogger('warn').logger,
      now: () => (clock += step),
    });
    controller.start();
    expect(controller.maxHoldoffMs).toBe(50);
    controller.markSynced();
    expect(controller.stats.lastBuildMs).toBe(300);
    expect(controller.maxHoldoffMs).toBe(600);
    step = 1;
    store.upsert(ingress('shop/web', { className: 'portico', rules: [rule('shop.example.com', [prefix('/', 'web', 80)])] }));
    controller.rebuild();
    expect(controller.maxHoldoffMs).toBe(50);
    controller.stop();
  });
});
