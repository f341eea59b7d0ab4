// `npm start`: builds the Custom UI apps, then bundles and runs the local Bitbucket host.
import { runBundled } from './runBundled.mjs';

await import('./buildStatic.mjs');
await runBundled('host/main.ts', '.local/host/main.cjs');
