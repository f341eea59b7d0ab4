import { mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProcessorBuilder, ValidationTypes } from '@forge/manifest';
import { parse } from 'yaml';
import { resolverFunctions } from '../src/handlers/resolvers';
import type { Deps } from '../src/ports';

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

  it('refuses filter.ignoreSelf on Bitbucket triggers, which is why the handlers are idempotent instead', async () => {
    const result = await validate(
      mutated((t) => t.replace('        - avi:bitbucket:push:repository\n', '        - avi:bitbucket:push:repository\n      filter:\n        ignoreSelf: true\n')),
      ValidationTypes.FULL,
    );
    expect((result.errors ?? []).map((e) => e.message)).toContain('Trigger filtering with ignoreSelf works only with Jira events');
  });

  it('declares the modules, runtime and scopes deliberately', () => {
    const manifest = parse(readFileSync(join(root, 'manifest.yml'), 'utf8'));
    expect(manifest.app.runtime.name).toBe('nodejs22.x');
    expect(manifest.modules['bitbucket:mergeCheck'][0].triggers).toEqual(['on-merge', 'on-code-pushed', 'on-reviewer-status-changed']);
    expect(Object.keys(manifest.modules).sort()).toEqual(['bitbucket:dynamicPipelinesProvider', 'bitbucket:mergeCheck', 'bitbucket:repoMainMenuPage', 'bitbucket:repoPullRequestCard', 'bitbucket:repoSettingsMenuPage', 'consumer', 'function', 'trigger', 'webtrigger']);
    expect(manifest.modules.webtrigger).toEqual([{ key: 'countersign-deployment-gate', function: 'deployment-gate', response: { type: 'dynamic' } }]);
    expect(manifest.modules.function).toContainEqual({ key: 'deployment-gate', handler: 'index.deploymentGate' });
    expect(manifest.modules.trigger.flatMap((t: { events: string[] }) => t.events).sort()).toEqual([
      'avi:bitbucket:completed:deployment',
      'avi:bitbucket:created:pullrequest',
      'avi:bitbucket:fulfilled:pullrequest',
      'avi:bitbucket:pending:deployment',
      'avi:bitbucket:push:repository',
      'avi:bitbucket:rejected:pullrequest',
      'avi:bitbucket:started:deployment',
      'avi:bitbucket:updated:pullrequest',
      'avi:bitbucket:updated:pullrequest-reviewer-status',
    ]);
    expect(manifest.modules.consumer).toEqual([{ key: 'countersign-reevaluate-consumer', queue: 'countersign-reevaluate', function: 'reevaluate-consumer' }]);
    expect(manifest.permissions.scopes).toMatchInlineSnapshot(`
[
  "storage:app",
  "read:repository:bitbucket",
  "read:pullrequest:bitbucket",
  "write:pullrequest:bitbucket",
  "read:workspace:bitbucket",
  "read:user:bitbucket",
  "read:pipeline:bitbucket",
]
`);
  });

  it('lets the audit page call getAuditPage and exportEvidence: its module names the resolver function that defines them', () => {
    const manifest = parse(readFileSync(join(root, 'manifest.yml'), 'utf8'));
    const [audit] = manifest.modules['bitbucket:repoMainMenuPage'];
    expect(audit).toMatchObject({ key: 'countersign-audit', resource: 'audit', resolver: { function: 'resolver' } });
    const fn = manifest.modules.function.find((f: { key: string }) => f.key === audit.resolver.function);
    expect(fn).toEqual({ key: 'resolver', handler: 'index.handler' });
    // index.handler is resolverFunctions' definitions: every function in the contract, these two among them.
    expect(Object.keys(resolverFunctions({} as Deps))).toEqual(expect.arrayContaining(['getAuditPage', 'exportEvidence', 'getLedgerKey']));
  });

  it('lets the deployments page call getDeployments and submitDeploymentDecision through the same resolver, from its own resource', () => {
    const manifest = parse(readFileSync(join(root, 'manifest.yml'), 'utf8'));
    const page = manifest.modules['bitbucket:repoMainMenuPage'].find((m: { key: string }) => m.key === 'countersign-deployments');
    expect(page).toEqual({ key: 'countersign-deployments', title: 'Countersign deployments', resource: 'deployments', resolver: { function: 'resolver' } });
    expect(manifest.resources).toContainEqual({ key: 'deployments', path: 'static/deployments/build' });
    expect(Object.keys(resolverFunctions({} as Deps))).toEqual(expect.arrayContaining(['getDeployments', 'submitDeploymentDecision']));
  });
});
