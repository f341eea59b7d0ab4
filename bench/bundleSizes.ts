import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

/** Each Custom UI app's JavaScript, Preact (as React) and @forge/bridge included, gzipped. */
export const BUNDLE_BUDGET_GZIP_BYTES = 50_000;

/** The built JavaScript of each app in static/ (run `npm run build` first). */
export function bundleSizes(root = '.'): { app: string; bytes: number; gzipped: number }[] {
  const staticDir = join(root, 'static');
  return readdirSync(staticDir)
    .filter((app) => existsSync(join(staticDir, app, 'build', 'main.js')))
    .map((app) => {
      const build = join(staticDir, app, 'build');
      const content = Buffer.concat(readdirSync(build).filter((f) => f.endsWith('.js')).map((f) => readFileSync(join(build, f))));
      return { app, bytes: content.length, gzipped: gzipSync(content, { level: 9 }).length };
    });
}
