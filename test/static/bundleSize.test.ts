import { build } from 'esbuild';
import { bundleSizes, BUNDLE_BUDGET_GZIP_BYTES } from '../../bench/bundleSizes';

describe('Custom UI bundles', () => {
  const sizes = bundleSizes();

  it('builds both apps the manifest names', () => {
    expect(sizes.map((s) => s.app).sort()).toEqual(['pr-card', 'settings']);
  });

  it.each(sizes.map((s) => [s.app, s.gzipped]))('keeps %s within the gzipped budget (%d bytes)', (_app, gzipped) => {
    expect(gzipped).toBeLessThanOrEqual(BUNDLE_BUDGET_GZIP_BYTES);
  });
});

describe('the PR card bundle', () => {
  it('signs with the core’s zod-free halves: no zod, jose or schema module is bundled into the card', async () => {
    const result = await build({
      entryPoints: ['static/pr-card/src/index.tsx'],
      bundle: true,
      write: false,
      metafile: true,
      format: 'esm',
      jsx: 'automatic',
      outfile: 'card.js',
      logLevel: 'silent',
    });
    const inputs = Object.keys(result.metafile.outputs['card.js']!.inputs);
    expect(inputs).toContain('src/core/statementBuilder.ts');
    expect(inputs.filter((path) => /node_modules\/(zod|jose)\//.test(path) || /^src\/core\/(statement|dsse|crypto|formats|assessment|policy)\.ts$/.test(path))).toEqual([]);
  });
});
