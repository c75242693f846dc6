/**
 * flowgauge's code as the benchmarks time it: the compiled JavaScript in dist/ (what
 * bin/flowgauge.js runs), built by `npm run build`, which every `npm run bench:*` script runs first.
 * The TypeScript loader that runs the benchmark files would compile src/ again with its own
 * compiler, whose output is not what ships (every named function and class wrapped in a naming
 * helper, for one), so timing src/ through it would not measure the code users run.
 *
 * Types come from the sources the output is built from; the freshness check below keeps the two
 * in step:
 *
 *   const { FlowPipeline } = await fromDist<typeof import('../src/pipeline.js')>('pipeline.js');
 *   type FlowPipeline = InstanceType<typeof FlowPipeline>;   // where the class is also a type
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const REPO_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const SRC_DIR = path.join(REPO_DIR, 'src');
export const DIST_DIR = path.join(REPO_DIR, 'dist');

/** The first source whose compiled module is missing or older than the source, if any. */
export function staleSource(dir = SRC_DIR): string | undefined {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      const stale = staleSource(file);
      if (stale !== undefined) return stale;
      continue;
    }
    if (!entry.name.endsWith('.ts') || entry.name.endsWith('.d.ts')) continue;
    const out = path.join(DIST_DIR, path.relative(SRC_DIR, file)).replace(/\.ts$/, '.js');
    if (!existsSync(out) || statSync(out).mtimeMs < statSync(file).mtimeMs) return path.relative(REPO_DIR, file);
  }
  return undefined;
}

let checked = false;

/** Throws unless dist/ holds a build of the current sources. */
export function assertDistBuilt(): void {
  if (checked) return;
  const stale = staleSource();
  if (stale !== undefined) {
    throw new Error(`dist/ is missing or older than ${stale}: run \`npm run build\` first (the npm run bench:* scripts do)`);
  }
  checked = true;
}

/** Imports dist/<module> (a path relative to dist/, ending in .js), typed as its source `M`. */
export async function fromDist<M>(module: string): Promise<M> {
  assertDistBuilt();
  return (await import(pathToFileURL(path.join(DIST_DIR, module)).href)) as M;
}
