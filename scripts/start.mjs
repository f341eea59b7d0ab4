// `npm start`: builds the Custom UI apps, bundles the local Bitbucket host (TypeScript, ESM-only
// dependencies) into one CommonJS file, and runs it.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';

await import('./buildStatic.mjs');
const outfile = '.local/host/main.cjs';
await build({
  entryPoints: ['host/main.ts'],
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
