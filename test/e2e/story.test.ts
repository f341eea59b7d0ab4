/**
 * The end-to-end story in Debian's Chromium, clicking only what a person would: the real apps in the
 * local Bitbucket host, the real resolvers and merge check behind them. Screenshots of each state go
 * to SCREENSHOT_DIR (ignored; `npm run screenshots` writes the README's copies in docs/screenshots/).
 */
import type { FrameLocator } from 'playwright-core';
import { DEMO } from '../../host/demo';
import { LocalBrowser } from './localBrowser';

jest.setTimeout(240_000);

describe('a pull request gated by Countersign, in a real browser', () => {
  const lb = new LocalBrowser();
  beforeAll(() => lb.start());
  afterAll(() => lb.stop());

  async function shootCardBothThemes(name: string, ready: (card: FrameLocator) => Promise<unknown>) {
    await lb.screenshotCard(`card-${name}-light`);
    await lb.setTheme('dark');
    await lb.page.reload();
    await ready(lb.card());
    expect(await cardTheme()).toEqual({ colorMode: 'dark', surface: '#1d2125' });
    await lb.screenshotCard(`card-${name}-dark`);
    await lb.setTheme('light');
    await lb.page.reload();
    await ready(lb.card());
  }

  async function signAs(card: FrameLocator, decision: 'approval' | 'rejection') {
    await card.getByRole('button', { name: `Sign ${decision}` }).click();
    const dialog = card.getByRole('dialog');
    await dialog.getByRole('button', { name: `Sign ${decision}` }).click();
    await card.getByTestId('my-decision').waitFor();
  }

  /** The colour mode the host set on the card's frame, and the surface token the card paints with. */
  async function cardTheme() {
    const frame = lb.page.frames().find((f) => f.url().includes('/apps/pr-card/'))!;
    return frame.evaluate(() => ({
      colorMode: document.documentElement.getAttribute('data-color-mode'),
      surface: getComputedStyle(document.documentElement).getPropertyValue('--ds-surface').trim(),
    }));
  }

  /** What the card keeps in the browser's IndexedDB for this account, read from inside the card's frame. */
  async function deviceKeyIn(person: keyof typeof DEMO.people) {
    const frame = lb.page.frames().find((f) => f.url().includes('/apps/pr-card/'))!;
    return frame.evaluate(
      (accountId) =>
        new Promise((resolve, reject) => {
          const open = indexedDB.open('countersign');
          open.onerror = () => reject(open.error);
          open.onsuccess = () => {
            const get = open.result.transaction('device-keys').objectStore('device-keys').get(accountId);
            get.onerror = () => reject(get.error);
            get.onsuccess = () => {
              const { privateKey, publicKey } = get.result;
              resolve({ extractable: privateKey.extractable, type: privateKey.type, usages: privateKey.usages, publicFields: Object.keys(publicKey).sort() });
            };
          };
        }),
      DEMO.people[person].accountId,
    );
  }

  /** The group's text as written (innerText would apply the lozenge's upper case). */
  const maintainers = async (card: FrameLocator) => (await card.getByTestId('group-Maintainers').textContent()) ?? '';

  it('shows an ungated pull request as not gated before any policy exists', async () => {
    await lb.page.goto(lb.url);
    await lb.actAs('riley');
    const card = await lb.openPullRequest();
    expect(await card.getByTestId('verdict').innerText()).toContain('Not gated');
    await shootCardBothThemes('not-gated', (c) => c.getByTestId('verdict').waitFor());
  });

  it('lets the admin require 2 Maintainers on main, with inline errors from the shared schema first', async () => {
    await lb.actAs('admin');
    const settings = await lb.openSettings();
    await settings.getByRole('button', { name: 'Add a rule' }).click();
    expect(await settings.getByLabel('Target branch or pattern').inputValue()).toBe('main');
    await settings.getByRole('button', { name: 'Save policy' }).click();
    await settings.getByText('A group needs at least one member').waitFor();
    expect(await settings.getByTestId('save-status').innerText()).toBe('Fix the highlighted fields to save.');

    for (const person of ['Avery Chen', 'Riley Park', 'Sam Ortiz', 'Jordan Lee']) await settings.getByRole('checkbox', { name: person }).check();
    await settings.getByLabel('Signatures needed').fill('5');
    await settings.getByText('The count cannot exceed the number of members').waitFor();
    await lb.screenshotPage('settings-validation');
    await settings.getByLabel('Signatures needed').fill('2');
    await settings.getByRole('button', { name: 'Save policy' }).click();
    await settings.getByText('Saved as version 1.').waitFor();
    expect(await settings.getByTestId('policy-version').innerText()).toContain('Policy version 1, saved');
    expect(await settings.getByTestId('policy-version').innerText()).toContain('by Morgan Admin');
  });

  it('does not let the author sign their own pull request', async () => {
    await lb.actAs('author');
    const card = await lb.openPullRequest();
    expect(await card.getByTestId('cannot-sign').innerText()).toContain('You opened this pull request');
    expect(await card.getByRole('button', { name: 'Sign approval' }).count()).toBe(0);
    await shootCardBothThemes('author', (c) => c.getByTestId('cannot-sign').waitFor());
  });

  it('tells a reviewer outside every group that there is nothing for them to sign', async () => {
    await lb.actAs('reader');
    const card = await lb.openPullRequest();
    expect(await card.getByTestId('cannot-sign').innerText()).toContain('You are not in a group that signs for this branch');
    await shootCardBothThemes('not-eligible', (c) => c.getByTestId('cannot-sign').waitFor());
  });

  it('shows loading, then an error with a retry when the backend cannot be reached', async () => {
    const hold = () => undefined;
    await lb.page.route('**/host/api/invoke', hold);
    await lb.page.reload();
    await lb.card().getByText('Loading Countersign…').waitFor();
    await lb.screenshotCard('card-loading-light');
    await lb.page.unroute('**/host/api/invoke', hold);

    const unavailable = (route: any) => route.fulfill({ status: 503, contentType: 'application/json', body: JSON.stringify({ message: 'Service unavailable' }) });
    await lb.page.route('**/host/api/invoke', unavailable);
    await lb.page.reload();
    const alert = lb.card().getByRole('alert');
    expect(await alert.innerText()).toContain('could not reach its backend');
    await lb.screenshotCard('card-error-light');
    await lb.page.unroute('**/host/api/invoke', unavailable);
    await alert.getByRole('button', { name: 'Retry' }).click();
    await lb.card().getByTestId('cannot-sign').waitFor();
  });

  it('has reviewer A enrol a key on this device and sign; Merge is blocked at 1 of 2', async () => {
    await lb.actAs('riley');
    let card = await lb.openPullRequest();
    expect(await card.getByLabel('Device label').inputValue()).toMatch(/^Chrome on Linux, \d{1,2} [A-Z][a-z]{2} \d{4}$/);
    await shootCardBothThemes('no-key', (c) => c.getByRole('button', { name: 'Enrol this device' }).waitFor());
    card = lb.card();
    await card.getByLabel('Device label').fill('Riley’s laptop');
    await card.getByRole('button', { name: 'Enrol this device' }).click();
    await card.getByRole('button', { name: 'Sign approval' }).waitFor();
    expect(await deviceKeyIn('riley')).toEqual({ extractable: false, type: 'private', usages: ['sign'], publicFields: ['crv', 'kty', 'x', 'y'] });
    await card.getByRole('button', { name: 'Sign approval' }).click();
    const dialog = card.getByRole('dialog');
    const head = lb.host.forge.bitbucket.repositories[0]!.pullRequests.get(1)!.commits.at(-1)!.hash;
    expect(await dialog.innerText()).toContain(`commit ${head} of pull request #1`);
    await lb.screenshotCard('card-confirm-light');
    await dialog.getByRole('button', { name: 'Sign approval' }).click();
    await card.getByTestId('my-decision').waitFor();
    expect(await maintainers(card)).toMatch(/1 of 2[\s\S]*Riley Park approved/);
    await shootCardBothThemes('signed-waiting', (c) => c.getByTestId('my-decision').waitFor());

    const merge = await lb.merge();
    expect(merge.passed).toBe(false);
    expect(merge.message).toContain('Maintainers 1 of 2 signed');
  });

  it('has reviewer B enrol and sign with the keyboard alone; the merge checks pass', async () => {
    await lb.actAs('sam');
    const card = await lb.openPullRequest();
    const keyboard = lb.page.keyboard;
    await card.getByLabel('Device label').focus();
    await keyboard.press('Enter');
    await card.getByRole('button', { name: 'Sign approval' }).focus();
    await keyboard.press('Enter');
    const dialog = card.getByRole('dialog');
    await dialog.waitFor();
    await keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    await card.getByRole('button', { name: 'Sign approval' }).focus();
    await keyboard.press('Enter');
    await keyboard.press('Tab'); // the confirmation takes focus; its first control is the confirm button
    expect(await dialog.getByRole('button', { name: 'Sign approval' }).evaluate((button) => button === document.activeElement)).toBe(true);
    await keyboard.press('Enter');
    await card.getByTestId('my-decision').waitFor();
    expect(await maintainers(card)).toContain('2 of 2');
    expect(await card.getByTestId('verdict').innerText()).toContain('Quorum met');
    await shootCardBothThemes('quorum-met', (c) => c.getByTestId('my-decision').waitFor());

    const merge = await lb.merge();
    expect(merge).toEqual({ passed: true, message: expect.stringContaining('approved on') });
    expect(await lb.page.getByRole('button', { name: 'Confirm merge' }).isEnabled()).toBe(true);
  });

  it('marks both signatures stale after a push, and blocks Merge again', async () => {
    await Promise.all([lb.page.waitForEvent('load'), lb.page.getByRole('button', { name: 'Push a commit' }).click()]);
    const card = lb.card();
    await card.getByTestId('my-stale').waitFor();
    const group = await maintainers(card);
    expect(group).toContain('0 of 2');
    expect(group).toContain('Riley Park — signed an older commit');
    expect(group).toContain('Sam Ortiz — signed an older commit');
    await shootCardBothThemes('stale', (c) => c.getByTestId('my-stale').waitFor());

    const merge = await lb.merge();
    expect(merge.passed).toBe(false);
    expect(merge.message).toContain('Maintainers 0 of 2 signed');
    expect(merge.message).toContain('2 signatures are for an older commit');
  });

  it('stops a key revoked in settings from signing', async () => {
    await lb.actAs('admin');
    const settings = await lb.openSettings();
    await lb.screenshotPage('settings-admin');
    await lb.setTheme('dark');
    await lb.page.reload();
    await settings.getByRole('button', { name: 'Revoke Riley’s laptop of Riley Park' }).waitFor();
    await lb.screenshotPage('settings-admin-dark');
    await lb.setTheme('light');
    await lb.page.reload();
    await settings.getByRole('button', { name: 'Revoke Riley’s laptop of Riley Park' }).click();
    await settings.getByRole('dialog').getByRole('button', { name: 'Revoke key' }).click();
    await settings.getByText('Revoked here').waitFor();

    await lb.actAs('riley');
    const card = await lb.openPullRequest();
    expect(await card.getByTestId('key-revoked').innerText()).toContain('“Riley’s laptop”) was revoked');
    expect(await card.getByRole('button', { name: 'Sign approval' }).count()).toBe(0);
    await shootCardBothThemes('key-revoked', (c) => c.getByTestId('key-revoked').waitFor());
  });

  it('merges once both sign the new head, Riley with a newly enrolled key', async () => {
    let card = lb.card();
    await card.getByLabel('Device label').fill('Riley’s new laptop');
    await card.getByRole('button', { name: 'Enrol this device' }).click();
    await signAs(card, 'approval');
    await lb.actAs('sam');
    card = await lb.openPullRequest();
    await signAs(card, 'approval');

    expect((await lb.merge()).passed).toBe(true);
    await Promise.all([lb.page.waitForEvent('load'), lb.page.getByRole('button', { name: 'Confirm merge' }).click()]);
    expect(await lb.page.getByTestId('pr-state').innerText()).toBe('MERGED');
    expect(await lb.card().getByText('This pull request is merged').count()).toBe(1);
  });

  it('shows a non-admin the policy read-only and says why; the backend refuses a forced save', async () => {
    await lb.actAs('reader');
    const settings = await lb.openSettings();
    expect(await settings.getByTestId('read-only').innerText()).toContain('Only repository admins can change this policy');
    expect(await settings.getByRole('button', { name: 'Save policy' }).count()).toBe(0);
    await lb.screenshotPage('settings-read-only');

    const frame = lb.page.frames().find((f) => f.url().includes('/apps/settings/'))!;
    const forced = await frame.evaluate(() =>
      (window as any).__bridge.callBridge('invoke', { functionKey: 'saveSettings', payload: { baseVersion: 1, rules: [] } }),
    );
    expect(forced).toMatchObject({ ok: false, code: 'FORBIDDEN' });
    const after = await frame.evaluate(() => (window as any).__bridge.callBridge('invoke', { functionKey: 'getSettings' }));
    expect(after.data.policy.version).toBe(1);
  });
});
