/**
 * Compiles the Portolan side of the benchmark to plain CommonJS under bench/out/js, so it can
 * run on bare `node` like a built app, without the on-the-fly compiler's start-up and memory.
 * Library aliases (@portolan/...) are rewritten to relative paths from tsconfig.base.json.
 */
import { transformFileSync } from '@swc/core';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

const SOURCES = ['bench/diff/portolan-diff.ts', 'libs/nmap/src', 'libs/diff/src', 'libs/contracts/src'];
const SKIP = /(\.spec\.ts|\.int-spec\.ts)$|[\\/]test[\\/]/;

function tsFiles(root: string, path: string): string[] {
  const full = join(root, path);
  if (full.endsWith('.ts')) return [path];
  return readdirSync(full, { withFileTypes: true }).flatMap((entry) => {
    const child = join(path, entry.name);
    if (entry.isDirectory()) return tsFiles(root, child);
    return entry.name.endsWith('.ts') ? [child] : [];
  });
}

/** Returns the path of the compiled entry point (bench/out/js/bench/diff/portolan-diff.js). */
export function compileForBench(root: string): string {
  const { compilerOptions } = JSON.parse(readFileSync(join(root, 'tsconfig.base.json'), 'utf8')) as {
    compilerOptions: { paths: Record<string, string[]> };
  };
  const outRoot = join(root, 'bench', 'out', 'js');
  for (const file of SOURCES.flatMap((source) => tsFiles(root, source)).filter((f) => !SKIP.test(f))) {
    const { code } = transformFileSync(join(root, file), {
      swcrc: false,
      jsc: {
        parser: { syntax: 'typescript', decorators: true },
        transform: { legacyDecorator: true, decoratorMetadata: true },
        target: 'es2022',
        baseUrl: root,
        paths: compilerOptions.paths,
      },
      module: { type: 'commonjs' },
    });
    const target = join(outRoot, file.replace(/\.ts$/, '.js'));
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, code);
  }
  return relative(root, join(outRoot, 'bench', 'diff', 'portolan-diff.js'));
}
