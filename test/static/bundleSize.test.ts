import { build } from 'esbuild';
import { bundleSizes, BUNDLE_BUDGET_GZIP_BYTES } from '../../bench/bundleSizes';

describe('Custom UI bundles', () => {
  const sizes = bundleSizes();

  it('builds the four apps the manifest names', () => {
    expect(sizes.map((s) => s.app).sort()).toEqual(['audit', 'deployments', 'pr-card', 'settings']);
  });

  it.each(sizes.map((s) => [s.app, s.gzipped]))('keeps %s within the gzipped budget (%d bytes)', (_app, gzipped) => {
    expect(gzipped).toBeLessThanOrEqual(BUNDLE_BUDGET_GZIP_BYTES);
  });
});

/** The modules an app's bundle is made of, as esbuild resolves them from its entry point. */
async function bundledModules(app: string): Promise<string[]> {
  const result = await build({ entryPoints: [`static/${app}/src/index.tsx`], bundle: true, write: false, metafile: true, format: 'esm', jsx: 'automatic', outfile: `${app}.js`, logLevel: 'silent' });
  return Object.keys(result.metafile.outputs[`${app}.js`]!.inputs);
}

describe('what the apps leave out', () => {
  it.each(['audit', 'deployments', 'pr-card', 'settings'])('bundles no zod into %s: the backend reads and checks what the apps send', async (app) => {
    expect((await bundledModules(app)).filter((path) => path.includes('node_modules/zod/'))).toEqual([]);
  });

  it('signs on the card with the schema-free core modules only', async () => {
    const modules = await bundledModules('pr-card');
    expect(modules).toEqual(expect.arrayContaining(['src/core/dsse.ts', 'src/core/statement.ts', 'src/core/ecdsaDer.ts']));
    expect(modules.filter((path) => /^src\/core\/(dsseVerify|statementSchema|publicKey|formats|policy|assessment|records)\.ts$/.test(path))).toEqual([]);
  });

  it('signs deployments with the schema-free core modules only', async () => {
    const modules = await bundledModules('deployments');
    expect(modules).toEqual(expect.arrayContaining(['src/core/dsse.ts', 'src/core/deploymentStatement.ts', 'src/core/ecdsaDer.ts']));
    expect(modules.filter((path) => /^src\/core\/(dsseVerify|statementSchema|publicKey|formats|policy|assessment|deploymentAssessment|records)\.ts$/.test(path))).toEqual([]);
  });
});
