// enable-cors: ingress-nginx's CORS block. With `*` every response gets the CORS fields
// (Access-Control-Allow-Origin: *) and every OPTIONS request is answered 204 by the proxy; with a
// list, only a request whose Origin is on it (exactly, or one label under a `*.` entry) does, with
// that Origin echoed, and other OPTIONS requests go to the backend. The fields replace any the
// backend sends (nginx's more_set_headers).
import type { CorsPolicy } from '../../model/route-model.js';
import type { RequestStep, StepAnswer } from './step.js';

type Field = readonly [string, string];

export function corsStep(policy: CorsPolicy): RequestStep {
  const common: Field[] = [];
  if (policy.credentials) common.push(['Access-Control-Allow-Credentials', 'true']);
  common.push(['Access-Control-Allow-Methods', policy.methods], ['Access-Control-Allow-Headers', policy.headers]);
  if (policy.expose !== undefined) common.push(['Access-Control-Expose-Headers', policy.expose]);
  common.push(['Access-Control-Max-Age', String(policy.maxAge)]);
  const any = policy.origins.includes('*');
  const exact = new Set(policy.origins.filter((o) => !o.includes('*')));
  const wildcards = policy.origins.filter((o) => o.includes('://*.')).map((o) => {
    const [scheme, rest] = o.split('://*.') as [string, string];
    return { prefix: `${scheme}://`, suffix: `.${rest}` };
  });
  const allowed = (origin: string): boolean => {
    const o = origin.toLowerCase();
    if (exact.has(o)) return true;
    // One label (letters, digits, `-`) in place of the `*`, as ingress-nginx's origin regex.
    return wildcards.some((w) => o.startsWith(w.prefix) && o.endsWith(w.suffix) && /^[a-z0-9-]+$/.test(o.slice(w.prefix.length, o.length - w.suffix.length)));
  };
  const starFields: readonly Field[] = [['Access-Control-Allow-Origin', '*'], ...common];
  const starPreflight: StepAnswer = Object.freeze({ kind: 'respond', status: 204, headers: [...starFields, ...PREFLIGHT] });
  return {
    name: 'cors',
    run: (request, edits) => {
      let fields: readonly Field[];
      if (any) {
        if (request.method === 'OPTIONS') return starPreflight;
        fields = starFields;
      } else {
        const origin = request.header('origin');
        if (origin === undefined || !allowed(origin)) return undefined;
        fields = [['Access-Control-Allow-Origin', origin], ...common];
        if (request.method === 'OPTIONS') return { kind: 'respond', status: 204, headers: [...fields, ...PREFLIGHT] };
      }
      edits.responseHeaders.push(...fields);
      return undefined;
    },
  };
}

/** What ingress-nginx adds to its 204 preflight answer. */
const PREFLIGHT: readonly Field[] = [['Content-Type', 'text/plain charset=UTF-8']];
