/**
 * The deployments page (bitbucket:repoMainMenuPage) in Debian's Chromium, on the local host: a pending
 * production request (opened in storage as the gate opens it) at 0 of 2, two release managers enrolling
 * and signing on their devices, the page showing it approved; and who cannot sign told why.
 */
import type { FrameLocator } from 'playwright-core';
import { KvsStore } from '../../src/adapters/kvsStore';
import { buildPolicy, deploymentId, parseEnvironments } from '../../src/core';
import { DEMO, demoCommit } from '../../host/demo';
import { LocalBrowser } from './localBrowser';

jest.setTimeout(180_000);

const PRODUCTION = '{aaaaaaaa-0000-4000-8000-000000000001}';
const PIPELINE = '{bbbbbbbb-0000-4000-8000-000000000001}';

describe('the deployments page', () => {
  const lb = new LocalBrowser();
  const { author, riley, sam, jordan, admin } = DEMO.people;
  const commit = demoCommit('release-v1');
  beforeAll(async () => {
    await lb.start();
    const store = new KvsStore();
    const policy = await buildPolicy({
      version: 1,
      rules: [],
      environments: parseEnvironments([{ environment: PRODUCTION, name: 'Production', requirements: [{ group: 'Release managers', members: [riley.accountId, sam.accountId, author.accountId], count: 2 }] }]),
      savedAt: new Date().toISOString(),
      savedBy: admin.accountId,
    });
    await store.savePolicy(DEMO.workspace.uuid, DEMO.repository.uuid, policy, 0, undefined);
    const fields = {
      id: deploymentId({ environment: PRODUCTION, commit }),
      environment: PRODUCTION,
      environmentName: 'Production',
      commit,
      ref: { type: 'tag' as const, name: 'v1.0.0' },
      pipeline: PIPELINE,
      buildNumber: 42,
      commitAuthor: author.accountId,
      pipelineStarter: jordan.accountId,
      requestedAt: new Date().toISOString(),
    };
    const subject = { kind: 'deployment' as const, workspace: DEMO.workspace.uuid, repository: DEMO.repository.uuid, environment: PRODUCTION, commit };
    await store.openDeploymentRequest(DEMO.repository.uuid, fields, { type: 'deployment.requested', subject, request: fields });
  });
  afterAll(() => lb.stop());

  const page = (): FrameLocator => lb.page.frameLocator('iframe[title="Countersign deployments"]');
  const production = () => page().locator('[data-testid="pending-deployment"][data-environment="Production"]');

  async function open(): Promise<void> {
    await lb.page.goto(`${lb.url}/acme/payments/countersign-deployments`);
    await page().getByRole('heading', { name: 'Countersign deployments' }).waitFor();
  }

  it('is linked from the pull request page and shows the pending production request at 0 of 2', async () => {
    await lb.page.goto(lb.url);
    await lb.actAs('riley');
    await lb.page.goto(`${lb.url}/acme/payments/pull-requests/1`);
    await lb.page.getByRole('link', { name: 'Countersign deployments' }).click();
    await production().waitFor();
    const text = await production().innerText();
    expect(text).toContain(commit.slice(0, 7));
    expect(text).toContain('tag v1.0.0');
    expect(text).toContain('#42');
    expect(text).toContain('Release managers 0 of 2 signed');
    expect(text).toContain('Release managers: 0 of 2 signed.');
    // Separation of duties, by name: the commit's author and whoever started the pipeline.
    await production().getByTestId('excluded').getByText('Avery Chen (authored the commit)', { exact: false }).waitFor();
    await production().getByTestId('excluded').getByText('Jordan Lee (started the pipeline)', { exact: false }).waitFor();
    expect(await production().getByTestId('deployment-state').innerText()).toMatch(/waiting/i);
    // Riley has no key on this device yet: the page says so and offers enrolment.
    await page().getByTestId('key-no-key').waitFor();
    await lb.screenshotPage('deployments-request-pending');
  });

  it('tells the commit author why they cannot sign', async () => {
    await lb.actAs('author');
    await open();
    await production().getByTestId('cannot-sign').getByText('You authored this commit', { exact: false }).waitFor();
    expect(await production().getByRole('button', { name: /^Approve/ }).count()).toBe(0);
  });

  async function enrolAndApprove(person: 'riley' | 'sam', label: string): Promise<void> {
    await lb.actAs(person);
    await open();
    await page().getByLabel('Device label').fill(label);
    await page().getByRole('button', { name: 'Enrol this device' }).click();
    const approve = production().getByRole('button', { name: `Approve deploying ${commit.slice(0, 7)} to Production` });
    await approve.click();
    const dialog = production().getByRole('dialog');
    expect(await dialog.innerText()).toContain(`commit ${commit}`);
    await dialog.getByRole('button', { name: 'Sign approval' }).click();
    await production().getByTestId('my-decision').getByText('You signed an approval', { exact: false }).waitFor();
  }

  it('counts Riley’s signature, made on her device: 1 of 2', async () => {
    await enrolAndApprove('riley', 'Riley’s laptop');
    expect(await production().innerText()).toContain('Release managers 1 of 2 signed (Riley Park)');
    // Read again from the server, it is still counted.
    await open();
    expect(await production().innerText()).toContain('Release managers 1 of 2 signed (Riley Park)');
  });

  it('shows it approved once Sam signs too', async () => {
    await enrolAndApprove('sam', 'Sam’s laptop');
    await production().getByTestId('deployment-verdict').getByText('Approved: the gate lets this commit deploy to Production.').waitFor();
    await lb.actAs('jordan');
    await open();
    const text = await production().innerText();
    expect(text).toMatch(/Release managers 2 of 2 signed \((Riley Park, Sam Ortiz|Sam Ortiz, Riley Park)\)/);
    expect(await production().getByTestId('deployment-state').innerText()).toMatch(/approved/i);
    await production().getByTestId('cannot-sign').getByText('You are not in an approver group for this environment', { exact: false }).waitFor();
    await lb.screenshotPage('deployments-approved');
  });

  it('moves it to "Recently allowed" once the gate let it through, and says nothing is waiting', async () => {
    const subject = { kind: 'deployment' as const, workspace: DEMO.workspace.uuid, repository: DEMO.repository.uuid, environment: PRODUCTION, commit };
    const verdict = { gated: true, message: 'allowed', policy: null, facts: { environment: { uuid: PRODUCTION }, commit }, counted: [] };
    await new KvsStore().recordDeploymentAllowed(DEMO.repository.uuid, deploymentId({ environment: PRODUCTION, commit }), PIPELINE, new Date().toISOString(), { type: 'deployment.allowed', subject, pipeline: PIPELINE, verdict });
    await open();
    await page().getByTestId('no-pending').getByText('No deployment is waiting for approval.').waitFor();
    const row = page().getByTestId('recent-deployment');
    expect(await row.count()).toBe(1);
    const text = await row.innerText();
    expect(text).toContain('Production');
    expect(text).toContain(commit.slice(0, 7));
    expect(text).toMatch(/Riley Park, Sam Ortiz|Sam Ortiz, Riley Park/);
  });
});
