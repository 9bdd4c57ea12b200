// Path validation and the Kubernetes docs path-matching table, through compileRoutes + RouteTable.
import { describe, expect, it } from 'vitest';
import { compileRoutes, DEFAULT_COMPILE_OPTIONS } from '../../src/compile/index.js';
import { RouteTable } from '../../src/routing/route-table.js';
import {
  httpPath,
  implementationSpecific,
  ingress,
  ingressClass,
  prefix,
  rule,
  snapshot,
} from '../helpers/objects.js';
import { PATH_EXAMPLES, pathExampleMatchIndex, pathExamplePaths, pathExampleService } from '../helpers/path-examples.js';
import { backendRef, exactRoute, ingressDiagnostic, prefixRoute } from '../helpers/routes.js';

const compile = (paths: Parameters<typeof rule>[1], host: string | undefined = 'example.com') =>
  compileRoutes(
    snapshot([ingressClass('portico'), ingress('default/web', { className: 'portico', rules: [rule(host, paths)] })]),
    DEFAULT_COMPILE_OPTIONS,
  );

describe('Kubernetes docs path examples', () => {
  it.each(PATH_EXAMPLES)('$name', (example) => {
    const model = compile(pathExamplePaths(example));
    expect(model.diagnostics).toEqual([]);
    const match = RouteTable.build(model).lookup('example.com', example.request);
    const index = pathExampleMatchIndex(example);
    if (index < 0) {
      expect(match).toBeUndefined();
      return;
    }
    expect(match?.route?.path).toBe(example.match);
    expect(match?.route?.pathType).toBe(example.paths[index]!.pathType);
    expect(match?.backend.service).toBe(pathExampleService(index));
  });

  it('every row of the table names a listed path', () => {
    for (const example of PATH_EXAMPLES) {
      if (example.match !== undefined) expect(pathExampleMatchIndex(example), example.name).toBeGreaterThanOrEqual(0);
    }
  });
});

describe('path validation', () => {
  const invalid = [
    ['relative', 'not absolute', "must start with '/'"],
    ['/a//b', 'double slash', "'//'"],
    ['/a/./b', 'dot segment', "'/./'"],
    ['/a/../b', 'dot-dot segment', "'/../'"],
    ['/a/.', 'trailing /.', "'/.'"],
    ['/a/..', 'trailing /..', "'/..'"],
    ['/a%2fb', 'encoded slash', '%2F'],
    ['/a%2Fb', 'encoded slash, upper case', '%2F'],
    ['/a?b=1', 'query', "'?'"],
    ['/a#frag', 'fragment', "'#'"],
    ['/a b', 'space', 'whitespace'],
  ] as const;

  it.each(invalid)('rejects %s (%s) while sibling paths serve', (bad, _why, reason) => {
    const model = compile([prefix('/ok', 'ok', 80), prefix(bad, 'bad', 80), httpPath(bad, 'Exact', 'bad', 81)]);
    expect(model.virtualHosts).toEqual([
      { host: 'example.com', routes: [prefixRoute('/ok', backendRef('default/ok', 80), 'default/web')] },
    ]);
    expect(model.backends).toEqual([backendRef('default/ok', 80)]);
    expect(model.diagnostics).toHaveLength(2);
    expect(model.diagnostics[0]).toMatchObject({
      ...ingressDiagnostic('PORTICO_ERR_INGRESS_PATH_INVALID', 'default/web', 'spec.rules[0].http.paths[1].path'),
      severity: 'error',
    });
    expect(model.diagnostics[0]!.message).toContain(JSON.stringify(bad));
    expect(model.diagnostics[0]!.message).toContain(reason);
    expect(model.diagnostics[1]).toMatchObject(
      ingressDiagnostic('PORTICO_ERR_INGRESS_PATH_INVALID', 'default/web', 'spec.rules[0].http.paths[2].path'),
    );
  });

  it('accepts dots that are not whole segments and other percent-escapes', () => {
    const model = compile([prefix('/a.b/..c/.d', 'x', 80), httpPath('/%20', 'Exact', 'x', 80)]);
    expect(model.diagnostics).toEqual([]);
    expect(model.virtualHosts[0]!.routes.map((r) => r.path)).toEqual(['/%20', '/a.b/..c/.d']);
  });

  it('missing or unknown pathType rejects the path', () => {
    const model = compile([
      httpPath('/a', undefined, 'a', 80),
      httpPath('/b', 'Regex', 'b', 80),
      httpPath('/c', '', 'c', 80),
      prefix('/d', 'd', 80),
    ]);
    expect(model.virtualHosts[0]!.routes).toEqual([prefixRoute('/d', backendRef('default/d', 80), 'default/web')]);
    expect(model.diagnostics).toMatchObject([
      ingressDiagnostic('PORTICO_ERR_INGRESS_PATH_TYPE', 'default/web', 'spec.rules[0].http.paths[0].pathType'),
      ingressDiagnostic('PORTICO_ERR_INGRESS_PATH_TYPE', 'default/web', 'spec.rules[0].http.paths[1].pathType'),
      ingressDiagnostic('PORTICO_ERR_INGRESS_PATH_TYPE', 'default/web', 'spec.rules[0].http.paths[2].pathType'),
    ]);
    expect(model.diagnostics[1]!.message).toContain('"Regex"');
  });

  it('a missing path is / for Prefix and ImplementationSpecific, invalid for Exact', () => {
    const model = compile([httpPath(undefined, 'Prefix', 'p', 80), httpPath(undefined, 'Exact', 'e', 80)]);
    expect(model.virtualHosts[0]!.routes).toEqual([prefixRoute('/', backendRef('default/p', 80), 'default/web')]);
    expect(model.diagnostics).toMatchObject([
      ingressDiagnostic('PORTICO_ERR_INGRESS_PATH_INVALID', 'default/web', 'spec.rules[0].http.paths[1].path'),
    ]);
    const is = compile([httpPath(undefined, 'ImplementationSpecific', 'i', 80)]);
    expect(is.virtualHosts[0]!.routes).toEqual([prefixRoute('/', backendRef('default/i', 80), 'default/web')]);
  });

  it('ImplementationSpecific compiles to Prefix, keeping the path as written', () => {
    const model = compile([implementationSpecific('/api/', 'api', 'http')]);
    expect(model.virtualHosts[0]!.routes).toEqual([
      prefixRoute('/api/', backendRef('default/api', 'http'), 'default/web'),
    ]);
    const table = RouteTable.build(model);
    expect(table.lookup('example.com', '/api/v1')?.route?.path).toBe('/api/');
    expect(table.lookup('example.com', '/apix')).toBeUndefined();
  });

  it('Exact and Prefix on the same path are distinct routes, sorted by path then type', () => {
    const model = compile([prefix('/b', 'b', 80), prefix('/a', 'a', 80), httpPath('/a', 'Exact', 'ae', 80)]);
    expect(model.virtualHosts[0]!.routes).toEqual([
      exactRoute('/a', backendRef('default/ae', 80), 'default/web'),
      prefixRoute('/a', backendRef('default/a', 80), 'default/web'),
      prefixRoute('/b', backendRef('default/b', 80), 'default/web'),
    ]);
  });
});
