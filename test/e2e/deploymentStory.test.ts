/**
 * The whole story of a commit, from review to production, in Debian's Chromium on the local host,
 * clicking as people would: a pull request signed by its quorum in the card and merged through the real
 * merge check; main deployed to Staging through the host's Pipelines (refused, approved on the
 * Countersign deployments page, allowed); a tag v1.0.0 refused for Production at 0 of 2, a deploy that
 * skips the gate flagged, two release managers approving (the commit's author told why they cannot),
 * then allowed and deployed; and the audit log showing all of it.
 *
 * Only the policy is seeded (saved through the settings resolver as the admin, as the settings page
 * saves it; the settings browser test covers the environment editor itself). Everything else is clicked.
 */
import type { FrameLocator, Locator } from 'playwright-core';
import { DEMO } from '../../host/demo';
import { LocalBrowser } from './localBrowser';

jest.setTimeout(300_000);

const { author, riley, sam, jordan } = DEMO.people;
const { staging, production } = DEMO.environments;

describe('from a signed merge to a signed production deployment, in a real browser', () => {
  const lb = new LocalBrowser();
  let mergeCommit = '';
  beforeAll(async () => {
    await lb.start();
    const saved = await lb.invoke('admin', 'saveSettings', {
      baseVersion: 0,
      rules: [{ branchPattern: 'main', requirements: [{ group: 'Maintainers', members: [riley.accountId, sam.accountId, jordan.accountId], count: 2 }] }],
      environments: [
        { environment: staging.uuid, name: staging.name, requirements: [{ group: 'Maintainers', members: [riley.accountId, sam.accountId, jordan.accountId], count: 1 }], branches: ['main'] },
        {
          environment: production.uuid,
          name: production.name,
          requirements: [{ group: 'Release managers', members: [riley.accountId, sam.accountId, author.accountId], count: 2 }],
          tags: ['v*'],
          requireMergedPullRequest: true,
        },
      ],
    });
    expect(saved).toMatchObject({ ok: true });
  });
  afterAll(() => lb.stop());

  const deployments = (): FrameLocator => lb.page.frameLocator('iframe[title="Countersign deployments"]');
  const pending = (environment: string): Locator => deployments().locator(`[data-testid="pending-deployment"][data-environment="${environment}"]`);
  const environment = (name: string): Locator => lb.page.getByRole('region', { name: `Environment ${name}` });

  async function openPipelines(): Promise<void> {
    await lb.page.goto(`${lb.url}/acme/payments/pipelines`);
    await lb.page.getByRole('heading', { name: 'Deployments' }).waitFor();
  }

  async function openDeployments(): Promise<void> {
    await lb.page.goto(`${lb.url}/acme/payments/countersign-deployments`);
    await deployments().getByRole('heading', { name: 'Countersign deployments' }).waitFor();
  }

  /** Presses a deploy button and waits for the step's answer in place; returns it as text. */
  async function runStep(name: string, ref: { tag: string } | 'main', button = 'Run deploy step'): Promise<string> {
    const section = environment(name);
    await section.getByLabel(`Ref for ${name}`).selectOption(ref === 'main' ? 'branch' : 'tag');
    if (ref !== 'main') await section.getByLabel(`Tag for ${name}`).fill(ref.tag);
    const before = (await section.locator('.gate-answer').getAttribute('data-pipeline')) ?? '';
    await section.getByRole('button', { name: button, exact: false }).click();
    // The answer names the pipeline run it is for: wait for this run's.
    const answer = section.locator(`.gate-answer[data-pipeline]:not([data-pipeline="${before}"])`);
    await answer.waitFor();
    return answer.innerText();
  }

  async function approve(person: 'riley' | 'sam', environmentName: string): Promise<void> {
    await lb.actAs(person);
    await openDeployments();
    const row = pending(environmentName);
    await row.getByRole('button', { name: `Approve deploying ${mergeCommit.slice(0, 7)} to ${environmentName}` }).click();
    const dialog = row.getByRole('dialog');
    expect(await dialog.innerText()).toContain(`commit ${mergeCommit}`);
    await dialog.getByRole('button', { name: 'Sign approval' }).click();
    await row.getByTestId('my-decision').getByText('You signed an approval', { exact: false }).waitFor();
  }

  async function signPullRequest(person: 'riley' | 'sam', label: string): Promise<void> {
    await lb.actAs(person);
    const card = await lb.openPullRequest(1);
    await card.getByLabel('Device label').fill(label);
    await card.getByRole('button', { name: 'Enrol this device' }).click();
    await card.getByRole('button', { name: 'Sign approval' }).click();
    await card.getByRole('dialog').getByRole('button', { name: 'Sign approval' }).click();
    await card.getByTestId('my-decision').waitFor();
  }

  it('merges pull request #1 into main once two maintainers signed it in the card', async () => {
    await lb.page.goto(lb.url);
    await signPullRequest('riley', 'Riley’s laptop');
    await signPullRequest('sam', 'Sam’s laptop');
    await lb.actAs('jordan');
    await lb.openPullRequest(1);
    const merge = await lb.merge();
    expect(merge).toEqual({ passed: true, message: expect.stringContaining('approved on') });
    await Promise.all([lb.page.waitForEvent('load'), lb.page.getByRole('button', { name: 'Confirm merge' }).click()]);
    expect(await lb.page.getByTestId('pr-state').innerText()).toBe('MERGED');
    await lb.host.events.idle(); // the fulfilled event records the merge, with its quorum, in the ledger
    mergeCommit = lb.host.forge.bitbucket.repositories[0]!.heads!.main!;
    expect(mergeCommit).toMatch(/^[0-9a-f]{40}$/);
  });

  it('shows the pipeline as the provider rewrites it, the gate inserted in front of both gated deployments', async () => {
    await lb.page.getByRole('link', { name: 'Pipelines' }).click();
    await lb.page.getByRole('heading', { name: 'Deployments' }).waitFor();
    const gate = lb.page.getByTestId('provided-pipeline').getByTestId('gate-line');
    expect(await gate.count()).toBe(4); // each deployment step: the audience, and the gate as its first command
    expect((await gate.allInnerTexts()).filter((line) => line.includes(': countersign-deployment-gate;'))).toHaveLength(2);
    expect(await lb.page.getByTestId('source-pipeline').innerText()).not.toContain('countersign');
  });

  it('refuses main for Staging at 0 of 1, then allows it once a maintainer approved on the deployments page', async () => {
    const refused = await runStep('Staging', 'main');
    expect(refused).toContain(`branch main at ${mergeCommit.slice(0, 7)}: the gate answered 403 (refused).`);
    expect(refused).toContain('Maintainers: 0 of 1 signed');
    expect(refused).toContain('The gate failed the step: nothing was deployed.');
    expect(await environment('Staging').getByTestId('deployed').innerText()).toBe('Staging: Never deployed');

    await approve('riley', 'Staging');
    await lb.actAs('jordan');
    await openPipelines();
    const allowed = await runStep('Staging', 'main');
    expect(allowed).toContain('the gate answered 200 (allowed).');
    expect(allowed).toContain('Approved by Riley Park');
    expect(await environment('Staging').getByTestId('deployed').innerText()).toBe(`Staging: ${mergeCommit.slice(0, 7)} (branch main), deployed by Jordan Lee`);
  });

  it('refuses tag v1.0.0 for Production at 0 of 2, and flags a deploy that skipped the gate', async () => {
    const refused = await runStep('Production', { tag: 'v1.0.0' });
    expect(refused).toContain(`tag v1.0.0 at ${mergeCommit.slice(0, 7)}: the gate answered 403 (refused).`);
    expect(refused).toContain('Release managers: 0 of 2 signed');
    expect(lb.host.forge.bitbucket.repositories[0]!.tags).toEqual([{ name: 'v1.0.0', commit: mergeCommit }]);
    await lb.screenshotPage('host-pipelines');

    const skipped = await runStep('Production', { tag: 'v1.0.0' }, 'Deploy without the gate');
    expect(skipped).toContain('without asking Countersign');
    expect(skipped).toContain('Countersign flagged this deployment');
  });

  it('tells the commit’s author they cannot approve it; two release managers approve', async () => {
    await lb.actAs('riley');
    await openDeployments();
    const text = await pending('Production').innerText();
    expect(text).toContain('tag v1.0.0');
    expect(text).toContain('Release managers 0 of 2 signed');
    await pending('Production').getByTestId('excluded').getByText('Avery Chen (authored the commit)', { exact: false }).waitFor();
    await lb.screenshotPage('deployments-pending');

    await lb.actAs('author');
    await openDeployments();
    await pending('Production').getByTestId('cannot-sign').getByText('You authored this commit', { exact: false }).waitFor();
    expect(await pending('Production').getByRole('button', { name: /^Approve/ }).count()).toBe(0);

    await approve('riley', 'Production');
    await approve('sam', 'Production');
    await pending('Production').getByTestId('deployment-verdict').getByText('Approved: the gate lets this commit deploy to Production.').waitFor();
  });

  it('allows v1.0.0 into Production once two release managers signed, and deploys it', async () => {
    await lb.actAs('jordan');
    await openPipelines();
    const allowed = await runStep('Production', { tag: 'v1.0.0' });
    expect(allowed).toContain('the gate answered 200 (allowed).');
    expect(allowed).toMatch(/Approved by (Riley Park, Sam Ortiz|Sam Ortiz, Riley Park)/);
    expect(await environment('Production').getByTestId('deployed').innerText()).toBe(`Production: ${mergeCommit.slice(0, 7)} (tag v1.0.0), deployed by Jordan Lee`);
    await lb.page.reload();
    expect(await environment('Production').getByTestId('deployed').innerText()).toBe(`Production: ${mergeCommit.slice(0, 7)} (tag v1.0.0), deployed by Jordan Lee`);
  });

  it('shows the approvals, the allowances and the deployment events in the audit log, the skipped gate flagged', async () => {
    await lb.actAs('admin');
    await lb.page.goto(`${lb.url}/acme/payments/countersign-audit`);
    const audit = lb.page.frameLocator('iframe[title="Countersign audit log"]');
    await audit.getByRole('heading', { name: 'Countersign audit log' }).waitFor();
    await audit.getByTestId('audit-entry').first().waitFor();
    const older = audit.getByRole('button', { name: 'Show older entries' });
    while ((await older.count()) > 0) {
      const shown = await audit.getByTestId('audit-entry').count();
      await older.click();
      await audit.locator(`[data-testid="audit-entry"] >> nth=${shown}`).waitFor();
    }
    const log = await audit.locator('table').innerText();
    const short = mergeCommit.slice(0, 7);
    expect(log).toContain(`Deploying ${short} to Production waits for approval`);
    expect(log.match(new RegExp(`Approved deploying ${short}`, 'g'))).toHaveLength(3);
    expect(log).toContain(`Gate allowed ${short} to Staging`);
    expect(log).toContain(`Gate allowed ${short} to Production`);
    expect(log).toContain(`Deployment of ${short} completed (SUCCESSFUL), allowed`);
    expect(log).toContain(`Deployment of ${short} completed (FAILED)`);
    expect(log).toContain(`Deployment of ${short} completed without Countersign's approval`);
  });
});
