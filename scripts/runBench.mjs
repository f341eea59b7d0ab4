// Bundles the benchmark (TypeScript, ESM-only dependencies) into one CommonJS file and runs it.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';

const outfile = '.local/bench/mergeCheck.bench.cjs';
await build({
  entryPoints: ['bench/mergeCheck.bench.ts'],
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  external: ['@forge/*'],
  outfile,
  logLevel: 'warning',
});
const { status } = spawnSync(process.execPath, [outfile], { stdio: 'inherit' });
process.exit(status ?? 1);
