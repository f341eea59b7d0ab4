// Builds each Custom UI app in static/<app>/src into static/<app>/build (the manifest's resource paths).
import { build } from 'esbuild';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

// An app is a folder with src/index.tsx; static/shared holds code the apps share.
const apps = (await readdir('static', { withFileTypes: true }))
  .filter((d) => d.isDirectory() && existsSync(join('static', d.name, 'src', 'index.tsx')))
  .map((d) => d.name);
// The apps are React code run on Preact through preact/compat: the same components at a fraction of
// React DOM's weight. To build them on React again, set this to {} (react and react-dom are installed).
const reactOnPreact = {
  react: 'preact/compat',
  'react-dom': 'preact/compat',
  'react-dom/client': 'preact/compat/client',
  'react/jsx-runtime': 'preact/jsx-runtime',
};

for (const app of apps) {
  const out = join('static', app, 'build');
  await mkdir(out, { recursive: true });
  await build({
    entryPoints: [join('static', app, 'src', 'index.tsx')],
    bundle: true,
    minify: true,
    format: 'esm',
    target: 'es2020',
    jsx: 'automatic',
    alias: reactOnPreact,
    define: { 'process.env.NODE_ENV': '"production"' },
    outfile: join(out, 'main.js'),
    logLevel: 'warning',
  });
  await writeFile(
    join(out, 'index.html'),
    `<!doctype html>\n<html lang="en">\n<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Countersign</title>${
      existsSync(join(out, 'main.css')) ? '<link rel="stylesheet" href="./main.css">' : ''
    }</head>\n<body><div id="root"></div><script type="module" src="./main.js"></script></body>\n</html>\n`,
  );
  console.log(`built ${out}`);
}

// The `countersign verify` CLI (package.json `bin`), bundled beside the apps.
const { buildCli } = await import('./buildCli.mjs');
await buildCli();
