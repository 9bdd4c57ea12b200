// mirror-target: the step resolves this request's mirror URL (nginx variables expanded) and leaves
// it in UpstreamEdits; the engine and the HTTP/2 front send the copy (src/proxy/mirror-copy.ts).
import type { MirrorPolicy } from '../../model/route-model.js';
import { expandVariables } from './redirect.js';
import type { MirrorRequest, RequestStep } from './step.js';

export function mirrorStep(policy: MirrorPolicy): RequestStep {
  const resolve = (url: string): MirrorRequest | undefined => {
    try {
      const parsed = new URL(url);
      return { url: parsed, host: policy.host ?? parsed.host, body: policy.body };
    } catch {
      return undefined;
    }
  };
  const fixed = policy.url.includes('$') ? undefined : resolve(policy.url);
  return {
    name: 'mirror',
    run: (request, edits) => {
      edits.mirror = fixed ?? resolve(expandVariables(policy.url, request));
      return undefined;
    },
  };
}
