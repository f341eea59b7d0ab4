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
