import { canonicalBytes, policyHash, RequestError, sha256Hex, type Policy } from '../../src/core';
import { anEnvironmentPolicy, ENVIRONMENTS } from '../fixtures/environmentPolicies';
import { aRule, PEOPLE, REPOSITORY, World } from '../fixtures/world';

describe('settings: deployment environments', () => {
  let world: World;
  beforeEach(() => {
    world = new World();
    world.host.bitbucket.addEnvironment(world.repo, { ...ENVIRONMENTS.staging });
    world.host.bitbucket.addEnvironment(world.repo, { ...ENVIRONMENTS.production });
  });
  afterEach(() => world.dispose());

  const save = (payload: { baseVersion: number; rules?: unknown; environments?: unknown }, as: string = PEOPLE.admin) =>
    world.call('saveSettings', as, { rules: [aRule()], ...payload });
  const saved = async (payload: { baseVersion: number; rules?: unknown; environments?: unknown }): Promise<Policy> => {
    const result = await save(payload);
    if (!result.ok) throw new Error(`saveSettings failed: ${result.code} ${result.message}`);
    return result.data.policy;
  };

  describe('saving', () => {
    it('saves environment policies with the rules as one new version, whose hash covers them', async () => {
      const production = anEnvironmentPolicy();
      const policy = await saved({ baseVersion: 0, environments: [production] });
      expect(policy).toMatchObject({ version: 1, environments: [production] });
      expect(policy.hash).toBe(`sha256:${await sha256Hex(canonicalBytes({ version: 1, rules: [aRule()], environments: [production] }))}`);
      expect(policy.hash).not.toBe(await policyHash(1, [aRule()]));
      const kept = await world.deps.gate.loadPolicyVersion(REPOSITORY, 1);
      expect(kept).toEqual(policy);
      expect((await world.ok('getSettings', PEOPLE.alice)).policy.environments).toEqual([production]);
    });

    it('applies the defaults to what the editor leaves out', async () => {
      const policy = await saved({ baseVersion: 0, environments: [{ environment: ENVIRONMENTS.staging.uuid, name: 'Staging', requirements: [{ group: 'QA', members: [PEOPLE.carol], count: 1 }] }] });
      expect(policy.environments).toEqual([
        { environment: ENVIRONMENTS.staging.uuid, name: 'Staging', requirements: [{ group: 'QA', members: [PEOPLE.carol], count: 1 }], branches: [], tags: [], requireMergedPullRequest: false, excludeCommitAuthor: true, excludeMerger: true, excludePipelineStarter: true, rejectionsBlock: true },
      ]);
    });

    it("keeps the edited version's environment policies when a save does not mention them", async () => {
      const production = anEnvironmentPolicy();
      await saved({ baseVersion: 0, environments: [production] });
      const second = await saved({ baseVersion: 1, rules: [aRule({ branchPattern: 'release/*' })] });
      expect(second).toMatchObject({ version: 2, rules: [expect.objectContaining({ branchPattern: 'release/*' })], environments: [production] });
      expect(second.hash).toBe(await policyHash(2, second.rules, [production]));
    });

    it('removes them all when a save sends none, and hashes that version as one saved before environments existed', async () => {
      await saved({ baseVersion: 0, environments: [anEnvironmentPolicy()] });
      const second = await saved({ baseVersion: 1, environments: [] });
      expect(second.environments).toBeUndefined();
      expect(second.hash).toBe(`sha256:${await sha256Hex(canonicalBytes({ version: 2, rules: [aRule()] }))}`);
      const third = await saved({ baseVersion: 2 });
      expect(third.environments).toBeUndefined();
    });

    it.each([
      ['a full tag ref', [anEnvironmentPolicy({ tags: ['refs/tags/v*'] })], '0.tags.0', 'without "refs/'],
      ['a count above the members', [anEnvironmentPolicy({ requirements: [{ group: 'RM', members: [PEOPLE.alice], count: 2 }] })], '0.requirements.0.count', 'count cannot exceed'],
      ['two policies for one environment', [anEnvironmentPolicy(), anEnvironmentPolicy({ name: 'Prod again' })], 'An environment has two policies', 'An environment has two policies'],
      ['an environment that is not a Bitbucket UUID', [anEnvironmentPolicy({ environment: 'production' })], '0.environment', 'Bitbucket UUID'],
      ['an unknown field', [{ ...anEnvironmentPolicy(), approveEverything: true }], 'approveEverything', 'approveEverything'],
      ['no list', { production: anEnvironmentPolicy() }, 'expected array', 'expected array'],
    ])('refuses %s with INVALID_POLICY naming the field, and stores nothing', async (_what, environments, field, text) => {
      const before = world.host.kvs.snapshot();
      const result = await save({ baseVersion: 0, environments });
      expect(result).toMatchObject({ ok: false, code: 'INVALID_POLICY' });
      const { message } = result as { message: string };
      expect(message).toContain('deployment environments are not valid');
      expect(message).toContain(field);
      expect(message).toContain(text);
      expect(world.host.kvs.snapshot()).toBe(before);
    });

    it('refuses a save with environments by someone Bitbucket does not call an admin, and stores nothing', async () => {
      const before = world.host.kvs.snapshot();
      for (const person of [PEOPLE.alice, PEOPLE.outsider]) {
        expect(await save({ baseVersion: 0, environments: [anEnvironmentPolicy()] }, person)).toMatchObject({ ok: false, code: 'FORBIDDEN', message: expect.stringContaining('Only repository admins') });
      }
      expect(world.host.kvs.snapshot()).toBe(before);
    });
  });

  describe('checking a draft', () => {
    it('keys environment errors under "environments." beside the rules\' own', async () => {
      const checked = await world.ok('checkPolicy', PEOPLE.admin, {
        rules: [aRule({ branchPattern: ' ' })],
        environments: [anEnvironmentPolicy({ requirements: [{ group: 'RM', members: [PEOPLE.alice], count: 3 }], branches: ['main', 'main'], tags: ['refs/tags/v1'] })],
      });
      expect(checked).toMatchObject({
        ok: false,
        errors: {
          '0.branchPattern': 'Enter a branch name or pattern',
          'environments.0.requirements.0.count': 'The count cannot exceed the number of members',
          'environments.0.branches': 'A pattern is listed twice',
          'environments.0.tags.0': 'Write the branch or tag name without "refs/…"',
        },
      });
      expect(await world.ok('checkPolicy', PEOPLE.admin, { rules: [aRule()], environments: [anEnvironmentPolicy(), anEnvironmentPolicy()] })).toMatchObject({
        ok: false,
        errors: { environments: 'An environment has two policies; merge them into one' },
      });
    });

    it('accepts in a check exactly what it saves, defaults applied', async () => {
      const draft = [{ environment: ENVIRONMENTS.production.uuid, name: 'Production', requirements: [{ group: 'RM', members: [PEOPLE.alice], count: 1 }], tags: ['v*'] }];
      const checked = await world.ok('checkPolicy', PEOPLE.admin, { rules: [aRule()], environments: draft });
      const policy = await saved({ baseVersion: 0, environments: draft });
      expect(checked).toEqual({ ok: true, rules: policy.rules, environments: policy.environments });
      expect(await world.ok('checkPolicy', PEOPLE.admin, { rules: [aRule()] })).toEqual({ ok: true, rules: policy.rules });
    });
  });

  describe('reading', () => {
    it("lists the repository's environments as Bitbucket does, to admins and readers alike", async () => {
      world.host.resetCalls();
      const settings = await world.ok('getSettings', PEOPLE.admin);
      expect(settings.deploymentEnvironments).toEqual({
        ok: true,
        environments: [
          { uuid: ENVIRONMENTS.staging.uuid, name: 'Staging', type: 'Staging' },
          { uuid: ENVIRONMENTS.production.uuid, name: 'Production', type: 'Production' },
        ],
        notFound: [],
      });
      expect(world.host.calls.bitbucket).toContain(`GET /2.0/repositories/${world.repo.workspace.uuid}/${REPOSITORY}/environments?pagelen=100`);
      expect((await world.ok('getSettings', PEOPLE.outsider)).deploymentEnvironments).toMatchObject({ ok: true, environments: [expect.anything(), expect.anything()] });
    });

    it('reads every page of environments', async () => {
      for (let n = 0; n < 120; n++) world.host.bitbucket.addEnvironment(world.repo, { uuid: `{00000000-0000-4000-8000-${String(n).padStart(12, '0')}}`, name: `Review ${n}`, type: 'Test' });
      world.host.resetCalls();
      const settings = await world.ok('getSettings', PEOPLE.admin);
      expect(settings.deploymentEnvironments.environments).toHaveLength(122);
      expect(settings.deploymentEnvironments.environments.at(-1)).toMatchObject({ name: 'Production' });
      expect(world.host.calls.bitbucket.filter((c) => c.includes('/environments'))).toHaveLength(2);
    });

    it('keeps a policy for an environment Bitbucket no longer lists, and marks it not found', async () => {
      const staging = anEnvironmentPolicy({ environment: ENVIRONMENTS.staging.uuid, name: 'Staging', tags: [] });
      await saved({ baseVersion: 0, environments: [staging, anEnvironmentPolicy()] });
      world.repo.environments = world.repo.environments!.filter((e) => e.uuid !== ENVIRONMENTS.production.uuid);
      const settings = await world.ok('getSettings', PEOPLE.admin);
      expect(settings.deploymentEnvironments).toMatchObject({ ok: true, environments: [expect.objectContaining({ name: 'Staging' })], notFound: [ENVIRONMENTS.production.uuid] });
      expect(settings.policy.environments.map((e: { name: string }) => e.name)).toEqual(['Staging', 'Production']);
      const next = await saved({ baseVersion: 1 });
      expect(next.environments!.map((e) => e.environment)).toEqual([ENVIRONMENTS.staging.uuid, ENVIRONMENTS.production.uuid]);
    });

    it('still shows the settings, with the reason, when Bitbucket cannot list the environments', async () => {
      jest.spyOn(world.deps.bitbucket, 'listEnvironments').mockRejectedValueOnce(new RequestError('BITBUCKET_ERROR', 'Bitbucket answered 503 (Service unavailable); try again in a moment.'));
      const settings = await world.ok('getSettings', PEOPLE.admin);
      expect(settings).toMatchObject({ canEdit: true, deploymentEnvironments: { ok: false, code: 'BITBUCKET_ERROR', message: expect.stringContaining('deployment environments') } });
    });

    it('does not list them to someone with no access to the repository', async () => {
      world.host.bitbucket.addUser({ accountId: '557058:0099-stranger', displayName: 'stranger', uuid: '{00000000-0000-4000-8000-000000000099}' });
      expect(await world.call('getSettings', '557058:0099-stranger')).toMatchObject({ ok: false, code: 'FORBIDDEN' });
    });
  });
});
