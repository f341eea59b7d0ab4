/**
 * The PR card's own states in Debian's Chromium, beside the story (story.test.ts): people named by
 * display name when they are not participants, more signatures than needed, the frame shrinking back
 * after a confirmation is cancelled, a device key that vanished with the browser's storage, and a
 * merged pull request. Real apps, resolvers and merge check behind the local host.
 */
import type { FrameLocator } from 'playwright-core';
import { DEMO } from '../../host/demo';
import { LocalBrowser } from './localBrowser';

jest.setTimeout(60_000);

describe('the PR card, in a real browser', () => {
  const lb = new LocalBrowser();
  const { riley, sam, jordan } = DEMO.people;
  beforeAll(() => lb.start());
  afterAll(() => lb.stop());

  const cardFrame = () => lb.page.frames().find((f) => f.url().includes('/apps/pr-card/'))!;
  const frameHeight = () => lb.page.locator('iframe[title="Countersign"]').evaluate((f) => Math.round(f.getBoundingClientRect().height));
  const maintainers = async (card: FrameLocator) => (await card.getByTestId('group-Maintainers').textContent()) ?? '';

  /** The host resizes frames every 150 ms: waits until the frame's height has been `expected` for a moment. */
  async function frameHeightBecomes(expected: (height: number) => boolean): Promise<number> {
    let height = await frameHeight();
    for (let i = 0; i < 40 && !expected(height); i++) {
      await lb.page.waitForTimeout(100);
      height = await frameHeight();
    }
    return height;
  }

  async function settle(): Promise<number> {
    let last = -1;
    let height = await frameHeight();
    while (height !== last) {
      last = height;
      await lb.page.waitForTimeout(400);
      height = await frameHeight();
    }
    return height;
  }

  async function enrol(card: FrameLocator) {
    await card.getByRole('button', { name: 'Enrol this device' }).click();
    await card.getByRole('button', { name: 'Sign approval' }).waitFor();
  }

  async function signApproval(card: FrameLocator) {
    await card.getByRole('button', { name: 'Sign approval' }).click();
    await card.getByRole('dialog').getByRole('button', { name: 'Sign approval' }).click();
    await card
      .getByTestId('my-decision')
      .waitFor()
      .catch(async (error: Error) => {
        // Say what the card showed instead, so a failure here can be told from a slow machine.
        throw new Error(`${error.message}\nThe card showed:\n${await card.locator('body').innerText()}`);
      });
  }

  it('is set up: main needs 2 of Maintainers, among them Jordan, who is not a participant of the pull request', async () => {
    await lb.page.goto(lb.url);
    await lb.actAs('admin');
    await lb.openSettings();
    const frame = lb.page.frames().find((f) => f.url().includes('/apps/settings/'))!;
    const rules = [
      {
        branchPattern: 'main',
        requirements: [{ group: 'Maintainers', members: [riley.accountId, sam.accountId, jordan.accountId], count: 2 }],
        excludeAuthor: true,
        excludeCommitAuthors: false,
        rejectionsBlock: true,
        autoMerge: false,
        commitStatus: false,
      },
    ];
    const saved = await frame.evaluate((rules) => (window as any).__bridge.callBridge('invoke', { functionKey: 'saveSettings', payload: { baseVersion: 0, rules } }), rules);
    expect(saved).toMatchObject({ ok: true, data: { policy: { version: 1 } } });
    const pr = lb.host.forge.bitbucket.repositories[0]!.pullRequests.get(1)!;
    expect([pr.author, ...pr.reviewers, ...pr.commits.map((c) => c.author)]).not.toContain(jordan.accountId);
  });

  it('suggests a device label that tells this device from others, and paints no background of its own', async () => {
    await lb.actAs('jordan');
    const card = await lb.openPullRequest();
    expect(await card.getByLabel('Device label').inputValue()).toMatch(/^Chrome on Linux, \d{1,2} [A-Z][a-z]{2} \d{4}$/);
    expect(await card.getByLabel('Device label').getAttribute('aria-describedby')).toBeTruthy();
    expect(await cardFrame().evaluate(() => getComputedStyle(document.documentElement).backgroundColor)).toBe('rgba(0, 0, 0, 0)');
  });

  it('grows its frame for a confirmation and shrinks it back after Cancel, with focus back on the button', async () => {
    const card = lb.card();
    await enrol(card);
    const closed = await settle();
    await card.getByRole('button', { name: 'Sign approval' }).click();
    const dialog = card.getByRole('dialog');
    await dialog.waitFor();
    expect(await dialog.innerText()).toContain('ledger');
    expect(await dialog.innerText()).not.toContain('audit trail');
    const open = await frameHeightBecomes((h) => h > closed + 40);
    expect(open).toBeGreaterThan(closed + 40);

    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'detached' });
    expect(await frameHeightBecomes((h) => Math.abs(h - closed) <= 1)).toBeLessThanOrEqual(closed + 1);
    expect(await card.getByRole('button', { name: 'Sign approval' }).evaluate((b) => b === document.activeElement)).toBe(true);
  });

  it('names a signer who is not a participant by display name, in the card and in the merge check', async () => {
    const card = lb.card();
    await signApproval(card);
    const group = await maintainers(card);
    expect(group).toMatch(/1 of 2[\s\S]*Jordan Lee approved/);
    expect(group).not.toContain(jordan.accountId);
    const verdict = await card.getByTestId('verdict').innerText();
    expect(verdict.match(/waiting for signatures/gi)).toHaveLength(1);

    const merge = await lb.merge();
    expect(merge.passed).toBe(false);
    expect(merge.message).toContain('Maintainers 1 of 2 signed (Jordan Lee)');
    expect(merge.message).not.toContain(jordan.accountId);
  });

  it('says the device key is gone when the browser cleared its storage, and enrols this device again', async () => {
    // As a browser clearing the app origin's storage would: every key this browser kept is gone.
    await cardFrame().evaluate(
      () =>
        new Promise<void>((resolve, reject) => {
          const open = indexedDB.open('countersign');
          open.onerror = () => reject(open.error);
          open.onsuccess = () => {
            const tx = open.result.transaction('device-keys', 'readwrite');
            tx.objectStore('device-keys').clear();
            tx.oncomplete = () => (open.result.close(), resolve());
            tx.onerror = () => reject(tx.error);
          };
        }),
    );
    await lb.page.reload();
    const card = lb.card();
    const missing = card.getByTestId('key-missing');
    await missing.waitFor();
    const text = await missing.innerText();
    expect(text).toContain('this browser holds none of them');
    expect(text).toContain('cleared');
    expect(await card.getByRole('button', { name: 'Sign approval' }).count()).toBe(0);
    // The lost key keeps its label in the account's list, so the new suggestion is numbered.
    expect(await card.getByLabel('Device label').inputValue()).toMatch(/^Chrome on Linux, \d{1,2} [A-Z][a-z]{2} \d{4} \(2\)$/);
    await lb.screenshotCard('card-key-missing-light');
    await enrol(card);
    expect(await card.getByTestId('key-missing').count()).toBe(0);
    expect(await card.getByTestId('my-decision').innerText()).toContain('You signed an approval');
  });

  it('says "3 signed, 2 needed" when more sign than needed, never "3 of 2"', async () => {
    for (const person of ['riley', 'sam'] as const) {
      await lb.actAs(person);
      const card = await lb.openPullRequest();
      await enrol(card);
      await signApproval(card);
    }
    const card = lb.card();
    const group = await maintainers(card);
    expect(group).toContain('3 signed, 2 needed');
    expect(group).not.toMatch(/3 of 2/i);
    for (const name of ['Riley Park', 'Sam Ortiz', 'Jordan Lee']) expect(group).toContain(`${name} approved`);
    expect(await card.getByRole('progressbar').getAttribute('aria-valuetext')).toBe('3 signed, 2 needed');
    expect(await card.getByTestId('verdict').innerText()).toContain('Quorum met');
    await lb.screenshotCard('card-over-quorum-light');

    const merge = await lb.merge();
    expect(merge.passed).toBe(true);
    expect(merge.message).toContain('Maintainers 3 signed, 2 needed (');
    expect(merge.message).toContain('Jordan Lee');
  });

  it('says the pull request merged after Confirm merge, never "ready to merge"', async () => {
    await Promise.all([lb.page.waitForEvent('load'), lb.page.getByRole('button', { name: 'Confirm merge' }).click()]);
    const card = lb.card();
    await card.getByText('This pull request is merged').waitFor();
    const verdict = await card.getByTestId('verdict').innerText();
    expect(verdict).toMatch(/^Merged into main, with the quorum met on [0-9a-f]{7}\./);
    expect(verdict).not.toContain('ready to merge');
    await lb.screenshotCard('card-merged-light');
  });
});
