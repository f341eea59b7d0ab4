// `npm run bench`: the benchmark, bundled and run, with the cold-start probe bundled beside it.
import { build } from 'esbuild';
import { runBundled } from './runBundled.mjs';

await build({
  entryPoints: ['bench/coldStart.ts'],
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  external: ['@forge/*'],
  outfile: '.local/bench/coldStart.cjs',
  logLevel: 'warning',
});
await runBundled('bench/mergeCheck.bench.ts', '.local/bench/mergeCheck.bench.cjs');
