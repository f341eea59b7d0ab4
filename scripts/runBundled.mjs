// Bundles a TypeScript entry point (with the ESM-only dependencies) into one CommonJS file and runs it
// with `args`, passing on its exit code. The @forge packages stay external: they are CommonJS and read runtime globals.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';

export async function runBundled(entry, outfile, args = []) {
  await build({
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['@forge/*'],
    outfile,
    logLevel: 'warning',
  });
  const { status } = spawnSync(process.execPath, [outfile, ...args], { stdio: 'inherit' });
  process.exit(status ?? 1);
}
