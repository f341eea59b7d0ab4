/**
 * The audit page (bitbucket:repoMainMenuPage) in Debian's Chromium, on the local host, over a ledger of
 * 60 entries seeded in the store's layout: the list newest first, paging, each filter, and an entry
 * opened with the keyboard to its signed statement. Exports downloaded from it: auditExport.test.ts.
 */
import type { FrameLocator } from 'playwright-core';
import { KvsStore } from '../../src/adapters/kvsStore';
import { DEMO } from '../../host/demo';
import { commitHash } from '../fixtures/world';
import { seedLedger } from '../fixtures/auditSeed';
import { LocalBrowser } from './localBrowser';

jest.setTimeout(180_000);

describe('the audit page', () => {
  const lb = new LocalBrowser();
  const SEEDED = 60;
  const { riley, sam, jordan, admin } = DEMO.people;
  let top = 0;
  beforeAll(async () => {
    await lb.start();
    top = await seedLedger(new KvsStore(), lb.host.forge.kvs, SEEDED, {
      workspace: DEMO.workspace.uuid,
      repository: DEMO.repository.uuid,
      admin: admin.accountId,
      people: [riley.accountId, sam.accountId, jordan.accountId],
    });
  });
  afterAll(() => lb.stop());

  const audit = (): FrameLocator => lb.page.frameLocator('iframe[title="Countersign audit log"]');
  const rows = () => audit().getByTestId('audit-entry');
  const seqs = async () => (await rows().evaluateAll((trs) => trs.map((tr) => Number(tr.getAttribute('data-seq')))));
  const status = () => audit().getByTestId('audit-status');
  const range = (from: number, to: number) => Array.from({ length: from - to + 1 }, (_, i) => from - i);

  it('is linked from the pull request page and lists the newest 25 entries first, with names', async () => {
    await lb.page.goto(lb.url);
    await lb.actAs('reader'); // read access is enough
    await lb.page.goto(`${lb.url}/acme/payments/pull-requests/1`);
    await lb.page.getByRole('link', { name: 'Countersign audit log' }).click();
    await audit().getByRole('heading', { name: 'Countersign audit log' }).waitFor();
    await status().getByText(`Showing the newest 25 entries of ${top}.`).waitFor();
    expect(top).toBe(SEEDED);
    expect(await seqs()).toEqual(range(top, top - 24));
    // Entry 60 (seeded event i = 59) is a revocation, by the admin.
    const row = audit().locator(`[data-testid="audit-entry"][data-seq="${top}"]`);
    await row.getByText(admin.displayName).waitFor();
    expect(await row.innerText()).toContain('Key revoked');
  });

  it('pages back with "Show older entries" to the first entry, then offers no more', async () => {
    await audit().getByRole('button', { name: 'Show older entries' }).click();
    await status().getByText(`Showing the newest 50 entries of ${top}.`).waitFor();
    expect(await seqs()).toEqual(range(top, top - 49));
    await audit().getByRole('button', { name: 'Show older entries' }).click();
    await status().getByText(`Showing the newest ${top} entries of ${top}.`).waitFor();
    expect(await seqs()).toEqual(range(top, 1));
    expect(await audit().getByRole('button', { name: 'Show older entries' }).count()).toBe(0);
  });

  it('opens an entry with the keyboard to who, what, which commit and the signed statement', async () => {
    // Seq 55 is seeded event i = 54: a decision (54 % 10 = 4, approve) by Riley (54 % 3 = 0) on pull request 6 (54 % 7 + 1).
    const open = audit().getByRole('button', { name: 'Open entry 55' });
    await open.focus();
    await lb.page.keyboard.press('Enter');
    const detail = audit().getByTestId('entry-detail');
    await detail.getByRole('heading', { name: 'The statement Riley Park signed' }).waitFor();
    const text = await detail.innerText();
    expect(text).toContain(commitHash('seed-54'));
    expect(text).toContain('#6');
    expect(text).toMatch(/Decision\s+approve/);
    expect(text).toContain(`Riley Park (${riley.accountId})`);
    expect(await audit().getByRole('button', { name: 'Close entry 55' }).getAttribute('aria-expanded')).toBe('true');
    await detail.getByText('Statement as signed (JSON)').click();
    expect(await detail.locator('pre').first().innerText()).toContain('"predicateType"');
    await audit().getByRole('button', { name: 'Close entry 55' }).press('Enter');
    await detail.waitFor({ state: 'detached' });
  });

  it('filters by event type, saying how far back it searched', async () => {
    await audit().getByLabel('Event').selectOption({ label: 'Key revoked' });
    await audit().getByRole('button', { name: 'Apply filters' }).click();
    await status().getByText('6 entries matching. Searched the whole log.').waitFor();
    expect(await seqs()).toEqual([60, 50, 40, 30, 20, 10]);
    expect(await rows().allInnerTexts()).toEqual(Array(6).fill(expect.stringContaining('Key revoked')));
  });

  it('filters by person (by name) and pull request together', async () => {
    await audit().getByLabel('Event').selectOption({ label: 'Any event' });
    await audit().getByLabel('Person').fill('Riley Park');
    await audit().getByLabel('Pull request').fill('6');
    await audit().getByRole('button', { name: 'Apply filters' }).click();
    // Decisions (i % 10 < 6) by Riley (i % 3 = 0) on pull request 6 (i % 7 = 5), i < 60.
    const expected = range(60, 1).filter((seq) => ((seq - 1) % 10) < 6 && (seq - 1) % 3 === 0 && (seq - 1) % 7 === 5);
    await status().getByText(`${expected.length} ${expected.length === 1 ? 'entry' : 'entries'} matching.`, { exact: false }).waitFor();
    expect(await seqs()).toEqual(expected);
    expect(expected.length).toBeGreaterThan(0);
  });

  it('filters by date, and says so when nothing matches; clearing shows everything again', async () => {
    await audit().getByRole('button', { name: 'Clear filters' }).click();
    await status().getByText(`Showing the newest 25 entries of ${top}.`).waitFor();
    await audit().getByLabel('From (UTC)').fill('2026-01-02');
    await audit().getByRole('button', { name: 'Apply filters' }).click();
    await status().getByText('0 entries matching. Searched the whole log.').waitFor();
    expect(await rows().count()).toBe(0);
    await audit().getByLabel('From (UTC)').fill('2026-01-01');
    await audit().getByLabel('To (UTC)').fill('2026-01-01');
    await audit().getByLabel('Event').selectOption({ label: 'Policy saved' });
    await audit().getByRole('button', { name: 'Apply filters' }).click();
    await status().getByText('6 entries matching. Searched the whole log.').waitFor();
    expect(await seqs()).toEqual([58, 48, 38, 28, 18, 8]);
    // A range the wrong way round is refused in the form, with the fix.
    await audit().getByLabel('From (UTC)').fill('2026-01-03');
    await audit().getByRole('button', { name: 'Apply filters' }).click();
    await audit().getByRole('alert').getByText('The “from” date is after the “to” date; swap them.').waitFor();
  });

  it('is linked from the settings page too', async () => {
    await lb.actAs('admin');
    await lb.openSettings();
    await lb.page.getByRole('link', { name: 'Countersign audit log' }).click();
    await status().getByText(`Showing the newest 25 entries of ${top}.`).waitFor();
  });
});
