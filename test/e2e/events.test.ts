/**
 * Events, statuses and auto-merge in Debian's Chromium: the local host delivers Bitbucket's thin
 * events to the real triggers and runs the real queue consumer; its PR page shows the `countersign`
 * build status as it changes, a "Require passing builds" switch makes Merge obey that status, and an
 * auto-merge rule closes the pull request once the quorum is met. The policy is saved through the
 * resolver directly, not the settings UI.
 */
import type { FrameLocator } from 'playwright-core';
import { DEMO } from '../../host/demo';
import { LocalBrowser } from './localBrowser';

jest.setTimeout(180_000);

describe('build statuses and auto-merge on the local host, in a real browser', () => {
  const lb = new LocalBrowser();
  beforeAll(() => lb.start());
  afterAll(() => lb.stop());

  const pr = () => lb.host.forge.bitbucket.repositories[0]!.pullRequests.get(1)!;
  const build = () => lb.page.getByTestId('build-countersign');

  async function enrolAndSign(card: FrameLocator, label: string) {
    await card.getByLabel('Device label').fill(label);
    await card.getByRole('button', { name: 'Enrol this device' }).click();
    await card.getByRole('button', { name: 'Sign approval' }).click();
    await card.getByRole('dialog').getByRole('button', { name: 'Sign approval' }).click();
  }

  it('shows the status a policy save queues for the head commit', async () => {
    const rules = [
      {
        branchPattern: 'main',
        requirements: [{ group: 'Maintainers', members: [DEMO.people.riley.accountId, DEMO.people.sam.accountId], count: 2 }],
        commitStatus: true,
        autoMerge: true,
        mergeStrategy: 'squash',
      },
    ];
    expect(await lb.invoke('admin', 'saveSettings', { baseVersion: 0, rules })).toMatchObject({ ok: true });
    await lb.host.events.idle();
    await lb.actAs('riley');
    await lb.openPullRequest();
    expect(await build().getAttribute('data-state')).toBe('INPROGRESS');
    expect(await build().innerText()).toContain('Maintainers 0 of 2 signed');
  });

  it('updates the status in place when a signature is queued for re-evaluation', async () => {
    await lb.page.evaluate(() => ((window as any).__sameDocument = true));
    await enrolAndSign(lb.card(), 'Riley’s laptop');
    await lb.card().getByTestId('my-decision').waitFor();
    await lb.page.locator('[data-testid="build-countersign"]', { hasText: 'Maintainers 1 of 2 signed' }).waitFor();
    expect(await lb.page.evaluate(() => (window as any).__sameDocument)).toBe(true);
    expect(await lb.page.getByTestId('pr-state').innerText()).toBe('OPEN');
  });

  it('lets the admin require passing builds, under which Merge obeys the status', async () => {
    await lb.actAs('admin');
    await lb.openPullRequest();
    const saved = lb.page.waitForResponse((r) => r.url().endsWith('/host/api/builds-required'));
    await lb.page.getByRole('switch', { name: 'Require passing builds' }).check();
    expect((await saved).status()).toBe(200);
    expect(lb.host.forge.bitbucket.repositories[0]!.requirePassingBuilds).toBe(true);
    const merge = await lb.merge();
    expect(merge.passed).toBe(false);
    expect(merge.message).toContain('Countersign is INPROGRESS');
    expect(await lb.page.locator('#merge-result strong').innerText()).toBe('Merge blocked: passing builds are required.');
    await lb.screenshotPage('host-builds-required');
  });

  it('turns the status green on the second signature and auto-merges the pull request', async () => {
    await lb.actAs('sam');
    const card = await lb.openPullRequest();
    const signedOn = pr().commits.at(-1)!.hash;
    await enrolAndSign(card, 'Sam’s laptop');
    // Auto-merge closes the pull request in the background; the page notices and reloads itself.
    await lb.page.locator('[data-testid="pr-state"]', { hasText: 'MERGED' }).waitFor({ timeout: 20_000 });
    expect(await build().getAttribute('data-state')).toBe('SUCCESSFUL');
    expect(await build().innerText()).toContain('Countersign');
    expect(await lb.page.getByTestId('merged-by').innerText()).toBe(`Merged by Countersign (auto-merge, squash) at ${signedOn.slice(0, 7)}`);
    await lb.card().getByTestId('automerge-merged').waitFor();
    expect(await lb.card().getByTestId('automerge-merged').innerText()).toContain('Countersign merged this pull request (squash)');
    expect(await lb.page.getByRole('button', { name: 'Merge', exact: true }).isDisabled()).toBe(true);

    // Green first, then merged: the SUCCESSFUL status was posted on the commit that was merged.
    const repo = lb.host.forge.bitbucket.repositories[0]!;
    expect(repo.statuses.filter((s) => s.commit === signedOn).map((s) => s.state)).toEqual(['INPROGRESS', 'INPROGRESS', 'SUCCESSFUL']);
    expect(repo.merges).toEqual([{ pullRequest: 1, strategy: 'squash', commit: signedOn, mergeCommit: expect.stringMatching(/^[0-9a-f]{40}$/) }]);
    await lb.screenshotPage('host-auto-merged');
  });
});
