// `npm run evidence:demo -- <out.jsonl>`: bundles host/evidenceDemoMain.ts and runs it with its arguments.
import { runBundled } from './runBundled.mjs';

await runBundled('host/evidenceDemoMain.ts', '.local/host/evidence-demo.cjs', process.argv.slice(2));
