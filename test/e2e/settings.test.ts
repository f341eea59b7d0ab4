/**
 * Repository settings → Countersign in Debian's Chromium, on the local host's large demo workspace
 * (5,000 generated members besides the demo's people): searching members, chips, names looked up
 * for the people shown, the editor's rough edges, and gating a deployment environment.
 */
import { join } from 'node:path';
import type { Frame, FrameLocator } from 'playwright-core';
import { DEMO, generatedMember } from '../../host/demo';
import { LocalBrowser, SCREENSHOT_DIR } from './localBrowser';

jest.setTimeout(240_000);

describe('the settings page on a workspace of 5,000 members', () => {
  const lb = new LocalBrowser({ demo: 'large' });
  /** Bitbucket paths the settings frame asked for through requestBitbucket, in order. */
  const reads: string[] = [];
  beforeAll(async () => {
    await lb.start();
    lb.page.on('request', (request) => {
      if (!request.url().includes('/host/api/')) return;
      const body = request.postDataJSON?.() as { restPath?: string } | undefined;
      if (body?.restPath) reads.push(body.restPath);
    });
  });
  afterAll(() => lb.stop());

  const frame = (): Frame => lb.page.frames().find((f) => f.url().includes('/apps/settings/'))!;
  const far = generatedMember(4321);
  const rule = (settings: FrameLocator) => settings.getByRole('region', { name: /^Rule 1/ });

  it('shows no error on a new rule until a field is touched or a save is tried', async () => {
    await lb.page.goto(lb.url);
    await lb.actAs('admin');
    const settings = await lb.openSettings();
    await settings.getByRole('button', { name: 'Add a rule' }).click();
    await settings.getByLabel('Find people to add to Maintainers').waitFor();
    expect(await settings.locator('.field-error').count()).toBe(0);
    expect(await settings.getByTestId('save-status').innerText()).toBe('Unsaved changes.');

    await settings.getByLabel('Signatures needed').fill('0');
    await settings.getByText('At least 1 signature is required').waitFor();
    // The members field was not touched: its error waits for a save.
    expect(await settings.getByText('A group needs at least one member').count()).toBe(0);
    await settings.getByLabel('Signatures needed').fill('1');
    // Touched, and still wrong: 1 signature from a group of nobody.
    await settings.getByText('The count cannot exceed the number of members').waitFor();
    const shown = await settings.locator('.field-error').count();
    await settings.getByRole('button', { name: 'Add a group' }).click();
    await settings.getByLabel('Find people to add to Group 2').waitFor();
    expect(await settings.locator('.field-error').count()).toBe(shown);
    await settings.getByRole('button', { name: 'Remove group Group 2' }).click();

    await settings.getByRole('button', { name: 'Save policy' }).click();
    await settings.getByText('A group needs at least one member').waitFor();
    expect(await settings.getByTestId('save-status').innerText()).toBe('Fix the highlighted fields to save.');
  });

  it('refuses refs/heads/main with the fix, and applies it in one click', async () => {
    const settings = lb.page.frameLocator('iframe[title="Countersign settings"]');
    await settings.getByLabel('Target branch or pattern').fill('refs/heads/main');
    await settings.getByText('Write the branch name without "refs/heads/": main').waitFor();
    await settings.getByRole('button', { name: 'Use “main”' }).click();
    expect(await settings.getByLabel('Target branch or pattern').inputValue()).toBe('main');
    // Gone once the backend has checked the corrected draft.
    await settings.getByText('Write the branch name without').waitFor({ state: 'detached' });
  });

  it('finds a person deep in the workspace by typing, reading only the pages it needs, and shows them as a chip', async () => {
    const settings = lb.page.frameLocator('iframe[title="Countersign settings"]');
    const before = reads.filter((p) => p.includes('/members?')).length;
    expect(before).toBe(1); // the first page, for the people shown before any typing
    const search = settings.getByLabel('Find people to add to Maintainers');
    await search.pressSequentially(far.displayName.slice(0, 6), { delay: 20 });
    await search.fill(far.displayName);
    await settings.getByRole('checkbox', { name: far.displayName }).check();
    const chips = settings.getByRole('list', { name: 'Chosen members of Maintainers' });
    expect(await chips.getByRole('listitem').allInnerTexts()).toEqual([expect.stringContaining(far.displayName)]);
    const pages = reads.filter((p) => p.includes('/members?'));
    // Member 4,321 (of 5,006) is on page 44: every page up to it was needed, and none was read twice.
    expect(new Set(pages).size).toBe(pages.length);
    expect(pages.length).toBeLessThanOrEqual(51);
    expect(await settings.getByTestId('member-search-status').innerText()).toBe(`1 person matching “${far.displayName}”.`);

    // Riley, from the first page; then the far member removed with the keyboard alone.
    await search.fill('riley');
    await settings.getByRole('checkbox', { name: 'Riley Park' }).check();
    await settings.getByRole('button', { name: `Remove ${far.displayName} from Maintainers` }).focus();
    await lb.page.keyboard.press('Enter');
    expect(await chips.getByRole('listitem').allInnerTexts()).toEqual([expect.stringContaining('Riley Park')]);
    // Focus stayed in the chips, on the one that moved into the removed one's place.
    expect(await frame().evaluate(() => document.activeElement?.getAttribute('aria-label'))).toBe('Remove Riley Park from Maintainers');
    await search.fill(far.displayName);
    await settings.getByRole('checkbox', { name: far.displayName }).check();
  });

  it('saves, warns while edits are unsaved, and shows every chosen person by name after a reload', async () => {
    const settings = lb.page.frameLocator('iframe[title="Countersign settings"]');
    const unloadBlocked = () => frame().evaluate(() => !window.dispatchEvent(new Event('beforeunload', { cancelable: true })));
    expect(await unloadBlocked()).toBe(true);
    await settings.getByRole('button', { name: 'Save policy' }).click();
    await settings.getByText('Saved as version 1.').waitFor();
    expect(await unloadBlocked()).toBe(false);

    reads.length = 0;
    await lb.openSettings(); // a fresh page load
    const chips = settings.getByRole('list', { name: 'Chosen members of Maintainers' });
    await chips.getByText(far.displayName).waitFor();
    expect(await chips.getByRole('listitem').allInnerTexts()).toEqual([expect.stringContaining('Riley Park'), expect.stringContaining(far.displayName)]);
    // The far member's name came from a lookup of that one account, not from reading 44 pages of members.
    expect(reads).toContain(`/2.0/workspaces/${encodeURIComponent(DEMO.workspace.uuid)}/members/${encodeURIComponent(far.accountId)}`);
    expect(reads.filter((p) => p.includes('/members?'))).toHaveLength(1);
    expect(await settings.getByTestId('policy-version').innerText()).toContain('by Morgan Admin');
    await settings.getByLabel('Find people to add to Maintainers').fill('sakura');
    await settings.getByText('Showing the first 20 people matching “sakura”.').waitFor();
    expect(await settings.getByRole('list', { name: 'People found for Maintainers' }).getByRole('listitem').allInnerTexts()).toEqual(Array(20).fill(expect.stringMatching(/^Sakura /)));
    await settings.getByRole('button', { name: 'Show more people' }).click();
    await settings.getByText('Showing the first 40 people matching “sakura”.').waitFor();
    await lb.screenshotPage('settings-member-search');
  });

  it('warns when a pattern matches none of the repository’s branches', async () => {
    const settings = lb.page.frameLocator('iframe[title="Countersign settings"]');
    const pattern = settings.getByLabel('Target branch or pattern');
    await pattern.fill('support/*');
    await settings.getByTestId('field-warning').getByText('No branch in this repository matches “support/*” yet').waitFor();
    await pattern.fill('release/*');
    await lb.page.waitForTimeout(700);
    expect(await settings.getByTestId('field-warning').count()).toBe(0);
    await pattern.fill('main');
  });

  it('asks before saving a policy with no rules, and saves nothing when cancelled', async () => {
    const settings = lb.page.frameLocator('iframe[title="Countersign settings"]');
    await rule(settings).getByRole('button', { name: 'Remove rule' }).click();
    await settings.getByRole('button', { name: 'Save policy' }).click();
    const dialog = settings.getByRole('dialog', { name: 'Save a policy with no rules?' });
    expect(await dialog.innerText()).toContain('(main) would merge without any signature');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    expect(await settings.getByRole('dialog').count()).toBe(0);
    const stored = await frame().evaluate(() => (window as any).__bridge.callBridge('invoke', { functionKey: 'getSettings' }));
    expect(stored.data.policy).toMatchObject({ version: 1, rules: [expect.objectContaining({ branchPattern: 'main' })] });
  });

  it('offers Reload when another admin saved first', async () => {
    const settings = lb.page.frameLocator('iframe[title="Countersign settings"]');
    await settings.getByRole('button', { name: 'Add a rule' }).click();
    const current = await frame().evaluate(() => (window as any).__bridge.callBridge('invoke', { functionKey: 'getSettings' }));
    const elsewhere = await frame().evaluate(
      (rules) => (window as any).__bridge.callBridge('invoke', { functionKey: 'saveSettings', payload: { baseVersion: 1, rules: [{ ...rules[0], branchPattern: 'develop' }] } }),
      current.data.policy.rules,
    );
    expect(elsewhere).toMatchObject({ ok: true, data: { policy: { version: 2 } } });
    await settings.getByLabel('Find people to add to Maintainers').fill('riley');
    await settings.getByRole('checkbox', { name: 'Riley Park' }).check();
    await settings.getByRole('button', { name: 'Save policy' }).click();
    await settings.getByRole('alert').getByText(/reload/i).waitFor();
    await settings.getByRole('button', { name: /^Reload the policy/ }).click();
    await settings.getByTestId('policy-version').getByText('2').waitFor();
    expect(await settings.getByLabel('Target branch or pattern').inputValue()).toBe('develop');
  });

  it('lets a reviewer rename their own key, and confirms a revoke at the key’s row', async () => {
    await lb.actAs('riley');
    await lb.openSettings();
    const enrolled = await frame().evaluate(async () => {
      const pair = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify'])) as CryptoKeyPair;
      const { kty, crv, x, y } = await crypto.subtle.exportKey('jwk', pair.publicKey);
      return (window as any).__bridge.callBridge('invoke', { functionKey: 'enrollKey', payload: { publicKey: { kty, crv, x, y }, label: 'Chrome on Linux' } });
    });
    expect(enrolled).toMatchObject({ ok: true });
    const settings = await lb.openSettings();
    await settings.getByRole('button', { name: 'Rename Chrome on Linux' }).click();
    const field = settings.getByLabel('New name for “Chrome on Linux”');
    await field.fill('   ');
    await lb.page.keyboard.press('Enter');
    await settings.getByText('Give this device a label').waitFor();
    await field.fill('Riley’s work laptop');
    await lb.page.keyboard.press('Enter');
    await settings.getByRole('cell', { name: 'Riley’s work laptop', exact: true }).waitFor();
    const focused = () => frame().evaluate(() => document.activeElement?.getAttribute('aria-label'));
    expect(await focused()).toBe('Rename Riley’s work laptop');
    await lb.openSettings();
    await settings.getByRole('cell', { name: 'Riley’s work laptop', exact: true }).waitFor();

    await settings.getByRole('button', { name: 'Revoke Riley’s work laptop of Riley Park (you)' }).click();
    // The confirmation opens in the key's own table, in the row under it.
    const dialog = settings.locator('table.keys tr.row-detail').getByRole('dialog', { name: 'Revoke “Riley’s work laptop”?' });
    await dialog.waitFor();
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    expect(await settings.getByRole('dialog').count()).toBe(0);
    expect(await focused()).toBe('Revoke Riley’s work laptop of Riley Park (you)');
  });

  it('tells a read-only person with no keys that they have none', async () => {
    await lb.actAs('reader');
    const settings = await lb.openSettings();
    await settings.getByText('You have no keys.').waitFor();
    expect(await settings.getByText('No keys are enrolled yet').count()).toBe(0);
    await lb.screenshotPage('settings-read-only-no-keys');
  });

  it('asks how to merge once auto-merge is on, saves the strategy and shows it read-only', async () => {
    await lb.actAs('admin');
    const settings = await lb.openSettings();
    expect(await settings.getByLabel('Merge strategy').count()).toBe(0);
    await rule(settings).getByRole('checkbox', { name: /^Merge automatically/ }).check();
    expect(await settings.getByLabel('Merge strategy').inputValue()).toBe('merge_commit');
    await settings.getByLabel('Merge strategy').selectOption({ label: 'Squash' });
    await settings.getByRole('button', { name: 'Save policy' }).click();
    await settings.getByText('Saved as version 3.').waitFor();
    const stored = await frame().evaluate(() => (window as any).__bridge.callBridge('invoke', { functionKey: 'getSettings' }));
    expect(stored.data.policy.rules[0]).toMatchObject({ autoMerge: true, mergeStrategy: 'squash' });

    await lb.actAs('reader');
    const readOnly = await lb.openSettings();
    await readOnly.getByText('Merges automatically (squash).').waitFor();
  });

  it('gates Production on 2 of Release managers from v* tags, saved with the rules as one version', async () => {
    await lb.actAs('admin');
    const settings = await lb.openSettings();
    const section = settings.getByRole('region', { name: 'Deployment environments' });
    // Bitbucket's environments for the demo repository, none gated yet.
    expect(await section.getByLabel('Environment').locator('option').allInnerTexts()).toEqual(['Staging', 'Production']);
    await section.getByLabel('Environment').selectOption({ label: 'Production' });
    await section.getByRole('button', { name: 'Gate this environment' }).click();
    const production = settings.getByRole('region', { name: 'Environment Production' });
    expect(await section.getByLabel('Environment').locator('option').allInnerTexts()).toEqual(['Staging']);
    // Separation of duties is on by default; the merged pull request requirement is not.
    expect(await production.getByRole('checkbox', { name: "The commit author's signature does not count" }).isChecked()).toBe(true);
    expect(await production.getByRole('checkbox', { name: /^The commit must have reached its branch through a pull request/ }).isChecked()).toBe(false);

    await production.getByLabel('Group name').fill('Release managers');
    await production.getByLabel('Signatures needed').fill('2');
    await production.getByText('The count cannot exceed the number of members').waitFor();
    const search = production.getByLabel('Find people to add to Release managers');
    for (const name of ['Riley Park', 'Sam Ortiz']) {
      await search.fill(name.split(' ')[0]!.toLowerCase());
      await production.getByRole('checkbox', { name }).check();
    }
    await production.getByText('The count cannot exceed the number of members').waitFor({ state: 'detached' });
    await production.getByRole('button', { name: 'Add a tag pattern' }).click();
    const tag = production.getByLabel('Tag pattern 1');
    await tag.fill('refs/tags/v*');
    await production.getByText('Write the branch or tag name without "refs/…"').waitFor();
    expect(await tag.getAttribute('aria-invalid')).toBe('true');
    await tag.fill('v*');
    await production.getByText('Write the branch or tag name without').waitFor({ state: 'detached' });
    await section.screenshot({ path: join(SCREENSHOT_DIR, 'settings-environments.png') });

    await settings.getByRole('button', { name: 'Save policy' }).click();
    await settings.getByText('Saved as version 4.').waitFor();
    const stored = await frame().evaluate(() => (window as any).__bridge.callBridge('invoke', { functionKey: 'getSettings' }));
    expect(stored.data.policy.rules[0]).toMatchObject({ autoMerge: true, mergeStrategy: 'squash' });
    expect(stored.data.policy.environments).toEqual([
      expect.objectContaining({
        environment: DEMO.environments.production.uuid,
        name: 'Production',
        requirements: [{ group: 'Release managers', members: [DEMO.people.riley.accountId, DEMO.people.sam.accountId], count: 2 }],
        branches: [],
        tags: ['v*'],
        excludeCommitAuthor: true,
      }),
    ]);

    const reloaded = await lb.openSettings();
    const saved = reloaded.getByRole('region', { name: 'Environment Production' });
    await saved.getByRole('list', { name: 'Chosen members of Release managers' }).getByText('Sam Ortiz').waitFor();
    expect(await saved.getByLabel('Signatures needed').inputValue()).toBe('2');
    expect(await saved.getByLabel('Tag pattern 1').inputValue()).toBe('v*');

    await lb.actAs('reader');
    const readOnly = await lb.openSettings();
    const view = readOnly.getByRole('group', { name: 'Environment Production' });
    await view.getByText('2 of Release managers: Riley Park, Sam Ortiz').waitFor();
    await view.getByText('From tag v*.').waitFor();
  });
});
