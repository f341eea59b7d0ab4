import './disposeSymbols';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type FrameLocator, type Page } from 'playwright-core';
import { DEMO, type DemoSize } from '../../host/demo';
import { LocalHost } from '../../host/localHost';

/**
 * Chromium 156 as Debian builds it blocks third-party cookies and with them a cross-site frame's
 * IndexedDB ("The user denied permission to access the database"), as Chrome does in Incognito.
 * Chrome's default keeps third-party storage, partitioned by top-level site; the tests run with that
 * default, and `test/e2e/host.test.ts` checks what the card's frame gets under both.
 */
export const THIRD_PARTY_STORAGE_ALLOWED = '--disable-features=TrackingProtection3pcd';

export const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', THIRD_PARTY_STORAGE_ALLOWED];

/**
 * Where screenshots go: an ignored folder while testing, so a test run never rewrites tracked files;
 * `npm run screenshots` points it at docs/screenshots/, the README's pictures.
 */
export const SCREENSHOT_DIR = process.env.COUNTERSIGN_SCREENSHOTS ?? join(__dirname, '../../.local/screenshots');

/** Debian's Chromium, or CHROMIUM_PATH; refuses at once, with the fix, when it is not there. */
export function chromiumPath(path = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'): string {
  if (!existsSync(path)) {
    throw new Error(`The browser tests need Chromium at ${path}: install it with "sudo apt-get install -y chromium" (or set CHROMIUM_PATH).`);
  }
  return path;
}

export type DemoPerson = keyof typeof DEMO.people;

/**
 * The local Bitbucket host on free ports with a fresh demo workspace (the large one if asked; pages on
 * 127.0.0.1, app frames on localhost: two sites, as Bitbucket and Forge's CDN are), and Debian's Chromium driving it.
 */
export class LocalBrowser {
  private stateDir = mkdtempSync(join(tmpdir(), 'countersign-e2e-'));
  readonly host: LocalHost;
  constructor(options: { demo?: DemoSize } = {}) {
    this.host = new LocalHost({ root: process.cwd(), statePath: join(this.stateDir, 'state.json'), demo: options.demo });
  }
  browser!: Browser;
  /** One browser profile: its tabs share cookies (who you act as) and storage. */
  context!: BrowserContext;
  page!: Page;
  url!: string;

  async start(): Promise<void> {
    const executablePath = chromiumPath();
    mkdirSync(SCREENSHOT_DIR, { recursive: true });
    this.url = await this.host.listen(0);
    this.browser = await chromium.launch({ executablePath, args: CHROMIUM_FLAGS });
    this.context = await this.browser.newContext({ viewport: { width: 1280, height: 900 } });
    this.page = await this.context.newPage();
  }

  /** Another tab of the same browser profile. */
  newTab(): Promise<Page> {
    return this.context.newPage();
  }

  async stop(): Promise<void> {
    await this.browser?.close();
    await this.host.close();
    rmSync(this.stateDir, { recursive: true, force: true });
  }

  async openPullRequest(id = 1): Promise<FrameLocator> {
    await this.page.goto(`${this.url}/acme/payments/pull-requests/${id}`);
    const card = this.card();
    await card.getByRole('heading', { name: 'Your signature' }).waitFor();
    return card;
  }

  async openSettings(): Promise<FrameLocator> {
    await this.page.goto(`${this.url}/acme/payments/admin/countersign`);
    const settings = this.page.frameLocator('iframe[title="Countersign settings"]');
    await settings.getByRole('heading', { name: 'Signing keys' }).waitFor();
    return settings;
  }

  card(): FrameLocator {
    return this.page.frameLocator('iframe[title="Countersign"]');
  }

  /** Switches the acting account with the host's own user switcher, as a person would. */
  async actAs(person: DemoPerson): Promise<void> {
    if (!this.page.url().startsWith(this.url)) await this.page.goto(this.url);
    await Promise.all([this.page.waitForEvent('load'), this.page.getByLabel('Acting as').selectOption({ label: DEMO.people[person].displayName })]);
  }

  /**
   * A resolver call as `person`, made as the host's page makes it (from a frame the host served on
   * `path`), outside the browser: for saving a policy without the settings UI.
   */
  async invoke(person: DemoPerson, functionKey: string, payload?: unknown, path = '/acme/payments/admin/countersign'): Promise<any> {
    const cookie = `cs_user=${encodeURIComponent(DEMO.people[person].accountId)}`;
    const html = await (await fetch(`${this.url}${path}`, { headers: { cookie } })).text();
    const src = new URL(/<iframe[^>]* src="([^"]+)"/.exec(html)![1]!.replace(/&#38;/g, '&'));
    const response = await fetch(`${this.url}/host/api/invoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', cookie },
      body: JSON.stringify({ frame: src.searchParams.get('frame'), functionKey, payload }),
    });
    return response.json();
  }

  async setTheme(theme: 'light' | 'dark'): Promise<void> {
    await this.page.request.post(`${this.url}/host/api/session`, { data: { theme } });
  }

  /** Clicks Merge and returns what Bitbucket shows: whether the checks passed, and the check's message. */
  async merge(): Promise<{ passed: boolean; message: string }> {
    await this.page.getByRole('button', { name: 'Merge', exact: true }).click();
    const result = this.page.locator('#merge-result');
    await result.getByTestId('merge-message').waitFor();
    return { passed: (await result.getAttribute('class'))!.includes('success'), message: await result.getByTestId('merge-message').innerText() };
  }

  async screenshotCard(name: string): Promise<void> {
    await this.page.waitForTimeout(250); // the host resizes the frame to its content every 150 ms
    await this.page.locator('.app-card').screenshot({ path: join(SCREENSHOT_DIR, `${name}.png`) });
  }

  async screenshotPage(name: string): Promise<void> {
    await this.page.waitForTimeout(250);
    await this.page.screenshot({ path: join(SCREENSHOT_DIR, `${name}.png`), fullPage: true });
  }
}
