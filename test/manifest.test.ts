import { mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProcessorBuilder, ValidationTypes } from '@forge/manifest';
import { parse } from 'yaml';

const root = join(__dirname, '..');

async function validate(path: string, type: ValidationTypes) {
  return ProcessorBuilder.instance().withValidation(type).build().process(path);
}

/** A copy of the manifest, changed, beside links to the real sources it refers to. */
function mutated(change: (text: string) => string): string {
  const dir = mkdtempSync(join(tmpdir(), 'countersign-manifest-'));
  for (const entry of ['src', 'static', 'package.json', 'node_modules']) symlinkSync(join(root, entry), join(dir, entry));
  writeFileSync(join(dir, 'manifest.yml'), change(readFileSync(join(root, 'manifest.yml'), 'utf8')));
  return join(dir, 'manifest.yml');
}

describe('manifest.yml', () => {
  it.each([ValidationTypes.FULL, ValidationTypes.PRODUCT_TRIGGER])('passes @forge/manifest %s validation with no errors', async (type) => {
    const result = await validate(join(root, 'manifest.yml'), type);
    expect(result.errors).toEqual([]);
    expect(result.success).toBe(true);
  });

  it('fails validation when a module points at a function that does not exist', async () => {
    const result = await validate(mutated((t) => t.replace('function: merge-check', 'function: missing')), ValidationTypes.FULL);
    expect(result.success).toBe(false);
  });

  it('declares the modules, runtime and scopes deliberately', () => {
    const manifest = parse(readFileSync(join(root, 'manifest.yml'), 'utf8'));
    expect(manifest.app.runtime.name).toBe('nodejs22.x');
    expect(manifest.modules['bitbucket:mergeCheck'][0].triggers).toEqual(['on-merge', 'on-code-pushed', 'on-reviewer-status-changed']);
    expect(Object.keys(manifest.modules).sort()).toEqual(['bitbucket:mergeCheck', 'bitbucket:repoPullRequestCard', 'bitbucket:repoSettingsMenuPage', 'function']);
    expect(manifest.permissions.scopes).toMatchInlineSnapshot(`
[
  "storage:app",
  "read:repository:bitbucket",
  "read:pullrequest:bitbucket",
  "read:workspace:bitbucket",
  "read:user:bitbucket",
]
`);
  });
});
