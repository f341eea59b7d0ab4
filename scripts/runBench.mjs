// `npm run bench`: the benchmark, bundled and run.
import { runBundled } from './runBundled.mjs';

await runBundled('bench/mergeCheck.bench.ts', '.local/bench/mergeCheck.bench.cjs');
