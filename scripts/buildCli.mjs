// Bundles the `countersign` CLI (src/cli/verify.ts) into one CommonJS file for Node 20, every
// dependency inlined, so `bin` needs nothing installed at run time. Run by `npm run build`;
// `node scripts/buildCli.mjs <outfile>` writes it elsewhere (the CLI tests do).
import { build } from 'esbuild';
import { chmod } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

export const CLI_OUTFILE = 'dist/countersign.cjs';

export async function buildCli(outfile = CLI_OUTFILE) {
  await build({
    entryPoints: ['src/cli/verify.ts'],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    banner: { js: '#!/usr/bin/env node' },
    outfile,
    logLevel: 'warning',
  });
  await chmod(outfile, 0o755);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await buildCli(process.argv[2]);
