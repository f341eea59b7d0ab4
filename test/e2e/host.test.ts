/**
 * The local host's own fidelity in Debian's Chromium: app frames on another site than the page (their
 * storage partitioned, or denied where the browser blocks third-party storage), tabs left open after
 * a switch of account, who you act as across a browser restart, no Merge for a reader, Reset demo.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Frame, type Page } from 'playwright-core';
import { DEMO } from '../../host/demo';
import { CHROMIUM_FLAGS, chromiumPath, LocalBrowser, THIRD_PARTY_STORAGE_ALLOWED } from './localBrowser';

jest.setTimeout(120_000);

const cardFrame = (page: Page): Frame => page.frames().find((f) => f.url().includes('/apps/pr-card/'))!;

/** Opens (or creates) an IndexedDB database in `frame` and puts one value in it: 'ok', or the browser's refusal. */
const writeIndexedDb = (frame: Frame) =>
  frame.evaluate(
    () =>
      new Promise<string>((resolve) => {
        const open = indexedDB.open('host-probe');
        open.onupgradeneeded = () => open.result.createObjectStore('s');
        open.onerror = () => resolve(`refused: ${open.error?.message}`);
        open.onsuccess = () => {
          const put = open.result.transaction('s', 'readwrite').objectStore('s').put('here', 'k');
          put.onsuccess = () => resolve('ok');
        };
      }),
  );

const actingAs = (page: Page) => page.getByLabel('Acting as').evaluate((select) => (select as HTMLSelectElement).selectedOptions[0]!.textContent);

describe('the local host in a real browser', () => {
  const lb = new LocalBrowser();
  beforeAll(() => lb.start());
  afterAll(() => lb.stop());

  it('serves the card from another site, whose storage the page cannot see and which is partitioned by the page', async () => {
    await lb.actAs('riley');
    await lb.openPullRequest();
    const frame = cardFrame(lb.page);
    expect(new URL(frame.url()).origin).toBe(lb.host.frameOrigin);
    expect(new URL(frame.url()).hostname).not.toBe(new URL(lb.url).hostname);
    expect(await lb.page.locator('iframe[title="Countersign"]').evaluate((iframe) => (iframe as HTMLIFrameElement).contentDocument)).toBeNull();
    expect(await writeIndexedDb(frame)).toBe('ok');

    // The frames' origin opened on its own (a first-party visit) has other storage than the embedded card.
    const alone = await lb.newTab();
    await alone.goto(`${lb.host.frameOrigin}/host/tokens.css`);
    expect(await alone.evaluate(async () => (await indexedDB.databases()).map((d) => d.name))).not.toContain('host-probe');
    await alone.close();
  });

  it('leaves the card without IndexedDB where the browser blocks third-party storage (this Chromium by default, Incognito in Chrome)', async () => {
    const browser = await chromium.launch({ executablePath: chromiumPath(), args: CHROMIUM_FLAGS.filter((flag) => flag !== THIRD_PARTY_STORAGE_ALLOWED) });
    try {
      const page = await browser.newPage();
      await page.goto(`${lb.url}/acme/payments/pull-requests/1`);
      await page.frameLocator('iframe[title="Countersign"]').getByText('Countersign').first().waitFor();
      expect(await writeIndexedDb(cardFrame(page))).toMatch(/^refused: /);
    } finally {
      await browser.close();
    }
  });

  it('reloads a tab left open when another tab switches account', async () => {
    await lb.actAs('riley');
    await lb.openPullRequest();
    const other = await lb.newTab();
    await other.goto(`${lb.url}/acme/payments/pull-requests/2`);
    const reloaded = lb.page.waitForEvent('load');
    await other.getByLabel('Acting as').selectOption({ label: DEMO.people.sam.displayName });
    await reloaded;
    expect(await actingAs(lb.page)).toBe('Sam Ortiz');
    await other.close();
  });

  it('reloads a stale tab on its next call instead of acting for whoever signed in since', async () => {
    await lb.actAs('riley');
    await lb.openPullRequest();
    // Signed in as Sam behind the tab's back (no other tab of this browser to tell it).
    await lb.context.request.post(`${lb.url}/host/api/session`, { data: { accountId: DEMO.people.sam.accountId } });
    const refused = lb.page.waitForResponse((r) => r.url().endsWith('/host/api/invoke'));
    const reloaded = lb.page.waitForEvent('load');
    // The card's next resolver call, as any of its buttons makes it; its page reloads before it is answered.
    const answered = cardFrame(lb.page)
      .evaluate(() => (window as any).__bridge.callBridge('invoke', { functionKey: 'getSettings' }))
      .then(() => 'answered', () => 'not answered');
    // The body (which says why, see test/host/localHost.test.ts) is gone once the page has reloaded.
    expect((await refused).status()).toBe(409);
    await reloaded;
    expect(await answered).toBe('not answered');
    expect(await actingAs(lb.page)).toBe('Sam Ortiz');
    await lb.card().getByRole('heading', { name: 'Your signature' }).waitFor();
  });

  it('shows a read-only user no Merge button, as Bitbucket does', async () => {
    await lb.actAs('reader');
    await lb.openPullRequest(2);
    expect(await lb.page.getByRole('button', { name: 'Merge', exact: true }).count()).toBe(0);
    await lb.actAs('jordan');
    await lb.openPullRequest(2);
    expect(await lb.page.getByRole('button', { name: 'Merge', exact: true }).count()).toBe(1);
  });

  it('starts again from the demo workspace on Reset demo, in every open tab', async () => {
    await lb.openPullRequest(1);
    await Promise.all([lb.page.waitForEvent('load'), lb.page.getByRole('button', { name: 'Push a commit' }).click()]);
    expect(await lb.page.locator('table.commits tbody tr').count()).toBe(3);
    const other = await lb.newTab();
    await other.goto(lb.url);
    const otherReloaded = other.waitForEvent('load');
    lb.page.once('dialog', (dialog) => void dialog.accept());
    await Promise.all([lb.page.waitForEvent('load'), lb.page.getByRole('button', { name: 'Reset demo' }).click()]);
    await otherReloaded;
    expect(await lb.page.locator('table.commits tbody tr').count()).toBe(2);
    await other.close();
  });
});

describe('who you act as, across a browser restart', () => {
  it('is still the account picked before the browser closed', async () => {
    const profile = mkdtempSync(join(tmpdir(), 'countersign-profile-'));
    const lb = new LocalBrowser();
    await lb.start();
    const launch = () => chromium.launchPersistentContext(profile, { executablePath: chromiumPath(), args: CHROMIUM_FLAGS });
    try {
      let context = await launch();
      let page = await context.newPage();
      await page.goto(lb.url);
      await Promise.all([page.waitForEvent('load'), page.getByLabel('Acting as').selectOption({ label: DEMO.people.jordan.displayName })]);
      await context.close();

      context = await launch();
      page = await context.newPage();
      await page.goto(lb.url);
      expect(await actingAs(page)).toBe('Jordan Lee');
      await context.close();
    } finally {
      await lb.stop();
      rmSync(profile, { recursive: true, force: true });
    }
  });
});
