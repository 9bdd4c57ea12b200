// Joins the compiled ES modules of the installed plugin into one script, so `portico-cni` starts
// with a single file read and no module resolution. A deliberately small transform for the shapes
// tsc emits from this code base (named and namespace imports of relative modules and node:
// built-ins, `export` on declarations, `export { … }`); anything else is refused, never guessed.

export interface BundleInput {
  /** Module path (relative to the app root, `cmd/portico-cni.js`) → compiled source. */
  modules: ReadonlyMap<string, string>;
  entry: string;
}

const IMPORT = /^import\s+([\s\S]*?)\s+from\s+(['"])([^'"]+)\2;?[ \t]*$/gm;
const SIDE_EFFECT_IMPORT = /^import\s+(['"])([^'"]+)\1;?[ \t]*$/gm;
const EXPORT_DECL = /^export\s+(?:(async\s+function\*?|function\*?|class|const|let|var)\s+([A-Za-z_$][\w$]*))/gm;
const EXPORT_LIST = /^export\s*\{([^}]*)\}\s*;?[ \t]*$/gm;
const EXPORT_FROM = /^export\s+(?:\*|\{[^}]*\})\s+from\s/m;
const EXPORT_DEFAULT = /^export\s+default\b/m;
const DYNAMIC_IMPORT = /\bimport\s*\(/;
const SOURCE_MAP = /^\/\/# sourceMappingURL=.*$/gm;

function resolve(from: string, specifier: string): string {
  const parts = from.split('/').slice(0, -1);
  for (const piece of specifier.split('/')) {
    if (piece === '.' || piece === '') continue;
    if (piece === '..') {
      if (parts.length === 0) throw new Error(`${from}: import ${specifier} leaves the app`);
      parts.pop();
    } else parts.push(piece);
  }
  return parts.join('/');
}

/** The relative module paths a compiled module imports. */
export function relativeImports(path: string, source: string): string[] {
  const out: string[] = [];
  for (const match of source.matchAll(IMPORT)) if (match[3]!.startsWith('.')) out.push(resolve(path, match[3]!));
  for (const match of source.matchAll(SIDE_EFFECT_IMPORT)) if (match[2]!.startsWith('.')) out.push(resolve(path, match[2]!));
  return out;
}

function bindings(clause: string, path: string): { namespace?: string; named: Array<[string, string]> } {
  const text = clause.trim();
  const ns = /^\*\s+as\s+([A-Za-z_$][\w$]*)$/.exec(text);
  if (ns) return { namespace: ns[1]!, named: [] };
  const named = /^\{([\s\S]*)\}$/.exec(text);
  if (!named) throw new Error(`${path}: unsupported import clause ${JSON.stringify(text)} (default imports are not bundled)`);
  const pairs: Array<[string, string]> = [];
  for (const part of named[1]!.split(',')) {
    const item = part.trim();
    if (item === '') continue;
    const m = /^([A-Za-z_$][\w$]*)(?:\s+as\s+([A-Za-z_$][\w$]*))?$/.exec(item);
    if (!m) throw new Error(`${path}: unsupported import binding ${JSON.stringify(item)}`);
    pairs.push([m[1]!, m[2] ?? m[1]!]);
  }
  return { named: pairs };
}

function builtinVar(specifier: string): string {
  return `__builtin_${specifier.replace(/^node:/, '').replace(/[^\w]/g, '_')}`;
}

function moduleVar(index: number): string {
  return `__module_${index}`;
}

/** Modules in dependency order (dependencies first), entry last. */
function order(input: BundleInput): string[] {
  const done = new Set<string>();
  const visiting = new Set<string>();
  const out: string[] = [];
  const visit = (path: string) => {
    if (done.has(path)) return;
    if (visiting.has(path)) throw new Error(`import cycle through ${path}`);
    const source = input.modules.get(path);
    if (source === undefined) throw new Error(`module ${path} is missing`);
    visiting.add(path);
    for (const dep of relativeImports(path, source)) visit(dep);
    visiting.delete(path);
    done.add(path);
    out.push(path);
  };
  visit(input.entry);
  return out;
}

export function bundle(input: BundleInput): string {
  const paths = order(input);
  const index = new Map(paths.map((p, i) => [p, i]));
  const builtins = new Set<string>();
  const chunks: string[] = [];
  for (const path of paths) {
    let source = input.modules.get(path)!.replace(SOURCE_MAP, '');
    if (EXPORT_FROM.test(source)) throw new Error(`${path}: re-exports (export … from) are not bundled`);
    if (EXPORT_DEFAULT.test(source)) throw new Error(`${path}: default exports are not bundled`);
    if (DYNAMIC_IMPORT.test(source)) throw new Error(`${path}: dynamic import() is not bundled`);
    const isEntry = path === input.entry;
    const prologue: string[] = [];
    source = source.replace(IMPORT, (_all, clause: string, _q: string, specifier: string) => {
      let target: string;
      if (specifier.startsWith('node:')) {
        builtins.add(specifier);
        target = builtinVar(specifier);
      } else if (specifier.startsWith('.')) {
        target = moduleVar(index.get(resolve(path, specifier))!);
      } else {
        throw new Error(`${path}: imports package ${JSON.stringify(specifier)}; the plugin bundle takes node: built-ins and its own modules only`);
      }
      const b = bindings(clause, path);
      prologue.push(b.namespace !== undefined ? `const ${b.namespace} = ${target};` : `const { ${b.named.map(([from, to]) => (from === to ? from : `${from}: ${to}`)).join(', ')} } = ${target};`);
      return '';
    });
    source = source.replace(SIDE_EFFECT_IMPORT, (_all, _q: string, specifier: string) => {
      if (specifier.startsWith('node:')) builtins.add(specifier);
      else if (!specifier.startsWith('.')) throw new Error(`${path}: imports package ${JSON.stringify(specifier)}`);
      return '';
    });
    const exported: Array<[string, string]> = [];
    if (isEntry) {
      // The entry stays a module at the top of the bundle, exports and all.
      if (/^import\s/m.test(source)) throw new Error(`${path}: an import statement was not understood by the bundler`);
      chunks.push(`// ${path}\n${prologue.join('\n')}\n${source.replace(/^#!.*\n/, '').trim()}`);
      continue;
    }
    source = source.replace(EXPORT_DECL, (_all, kind: string, name: string) => {
      exported.push([name, name]);
      return `${kind} ${name}`;
    });
    source = source.replace(EXPORT_LIST, (_all, list: string) => {
      for (const part of list.split(',')) {
        const item = part.trim();
        if (item === '') continue;
        const m = /^([A-Za-z_$][\w$]*)(?:\s+as\s+([A-Za-z_$][\w$]*))?$/.exec(item);
        if (!m) throw new Error(`${path}: unsupported export ${JSON.stringify(item)}`);
        exported.push([m[1]!, m[2] ?? m[1]!]);
      }
      return '';
    });
    if (/^(?:import|export)\s/m.test(source)) throw new Error(`${path}: an import or export statement was not understood by the bundler`);
    const body = source.replace(/^#!.*\n/, '').trim();
    const exports = exported.map(([local, name]) => (local === name ? local : `${name}: ${local}`)).join(', ');
    chunks.push(`// ${path}\nconst ${moduleVar(index.get(path)!)} = (() => {\n${prologue.join('\n')}\n${body}\nreturn { ${exports} };\n})();`);
  }
  const header = [...builtins].sort().map((specifier) => `import * as ${builtinVar(specifier)} from '${specifier}';`);
  return `${header.join('\n')}\n\n${chunks.join('\n\n')}\n`;
}
