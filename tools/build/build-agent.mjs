#!/usr/bin/env node
// Bundles the agent (apps/agent/src/main.ts and the libraries it imports) into ONE CommonJS file,
// dist/agent/portolan-agent.js, that runs on plain Node 20 with no node_modules beside it.
//
// Not minified: an agent runs on machines we do not control, and a crash's stack trace (node
// prints it to stderr, so it lands in the journal) is often all we get back; unminified code keeps
// function names and has esbuild's `// libs/...` path comments, so a bundle line leads straight
// to the source, with or without the map. Minifying halves the file (1.44 MB → 0.71 MB) but
// saved only about 1.4 MB of the idle agent's ~63 MB RSS (bench/agent-memory, one run each).
// A linked source map is written too; `node --enable-source-maps` uses it when it is deployed
// beside the bundle.
//
// The build fails if the bundle pulls in a hub-only package (Nest, TypeORM, database drivers):
// the agent must stay small, and such a package would usually also need files the bundle lacks.
import { build } from 'esbuild';
import { chmodSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const entry = join(root, 'apps/agent/src/main.ts');
const outfile = join(root, 'dist/agent/portolan-agent.js');
const FORBIDDEN = [/node_modules\/@nestjs\//, /node_modules\/typeorm/, /node_modules\/reflect-metadata\//, /node_modules\/pg\//, /node_modules\/@electric-sql\//, /node_modules\/@nats-io\//, /node_modules\/express\//];

/** `@portolan/*` → source file, read from tsconfig.base.json `paths` (exact names only, as the project uses them). */
function portolanAliases() {
  const tsconfig = JSON.parse(readFileSync(join(root, 'tsconfig.base.json'), 'utf8'));
  const paths = tsconfig.compilerOptions?.paths ?? {};
  const aliases = new Map();
  for (const [name, targets] of Object.entries(paths)) {
    if (name.includes('*')) throw new Error(`tsconfig.base.json: wildcard alias ${name} is not supported by build-agent`);
    aliases.set(name, resolve(root, targets[0]));
  }
  return aliases;
}

const aliasPlugin = (aliases) => ({
  name: 'portolan-aliases',
  setup(pluginBuild) {
    pluginBuild.onResolve({ filter: /^@portolan\// }, (args) => {
      const path = aliases.get(args.path);
      if (!path) return { errors: [{ text: `${args.path} is not in tsconfig.base.json paths` }] };
      return { path };
    });
  },
});

const result = await build({
  entryPoints: [entry],
  outfile,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  minify: false,
  sourcemap: 'linked',
  sourcesContent: false,
  legalComments: 'eof',
  banner: { js: '#!/usr/bin/env node' },
  tsconfig: join(root, 'apps/agent/tsconfig.json'),
  plugins: [aliasPlugin(portolanAliases())],
  metafile: true,
  logLevel: 'warning',
});

const inputs = Object.keys(result.metafile.inputs);
const forbidden = inputs.filter((input) => FORBIDDEN.some((pattern) => pattern.test(input)));
if (forbidden.length > 0) {
  process.stderr.write(`build-agent: the bundle pulls in hub-only code:\n  ${forbidden.join('\n  ')}\n`);
  process.exit(1);
}
chmodSync(outfile, 0o755);

const packages = new Set(inputs.filter((i) => i.includes('node_modules/')).map((i) => i.replace(/^.*node_modules\/((@[^/]+\/)?[^/]+).*$/, '$1')));
const bytes = statSync(outfile).size;
process.stdout.write(
  `${relative(root, outfile)}: ${(bytes / 1024).toFixed(0)} KiB (${bytes} bytes), ${inputs.length} inputs; ` +
    `packages: ${[...packages].sort().join(', ')}\n`,
);
