// Build step (npm run build, after tsc): bundles the compiled CNI plugin (dist/cmd/portico-cni.js and
// what it imports) into dist/portico-cni.bundle.mjs with esbuild, the one file `portico cni install`
// ships. The plugin must have no runtime dependencies: any import that is neither relative nor a
// node: built-in fails the build instead of being bundled.
import { build } from 'esbuild';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const CNI_BUNDLE = join(root, 'dist', 'portico-cni.bundle.mjs');

const onlyBuiltins = {
  name: 'portico-cni-no-packages',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) =>
      args.path.startsWith('node:')
        ? { path: args.path, external: true }
        : { errors: [{ text: `portico-cni imports package "${args.path}" (from ${args.importer}); the plugin must need only node: built-ins` }] },
    );
  },
};

/** Bundles `entry` into `outfile`; rejects when the code imports a package. */
export async function bundleCniPlugin(entry = join(root, 'dist', 'cmd', 'portico-cni.js'), outfile = CNI_BUNDLE) {
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: 'none',
    logLevel: 'warning',
    plugins: [onlyBuiltins],
  });
}

if (import.meta.main) await bundleCniPlugin();
