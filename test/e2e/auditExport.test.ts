import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FrameLocator } from 'playwright-core';
import { KvsStore } from '../../src/adapters/kvsStore';
import { readEntry } from '../../src/core';
import { DEMO } from '../../host/demo';
import { seedLedger, verifiableEvent, verifiableSeedPullRequest } from '../fixtures/auditSeed';
import { LocalBrowser } from './localBrowser';

jest.setTimeout(180_000);

/**
 * Downloads from the audit page's Export section, on a ledger longer than one export page (100
 * entries) that verifies (a policy, enrolled keys, decisions under them): the evidence bundle checked by
 * the built CLI as an auditor would, and CSV and Sigstore exports narrowed by the page's filters, each
 * entry exactly once. A file of its own beside audit.test.ts: the app's resolver keeps the app key it first read for the module's life, as a warm
 * Forge container does, so a second local host in the same module would sign with another key.
 */
describe('exports from the audit page', () => {
  const lb = new LocalBrowser();
  const SEEDED = 130;
  const { riley, sam, jordan, admin } = DEMO.people;
  let top = 0;
  let dir: string;
  beforeAll(async () => {
    await lb.start();
    dir = mkdtempSync(join(tmpdir(), 'countersign-export-'));
    top = await seedLedger(new KvsStore(), lb.host.forge.kvs, SEEDED, {
      workspace: DEMO.workspace.uuid,
      repository: DEMO.repository.uuid,
      admin: admin.accountId,
      people: [riley.accountId, sam.accountId, jordan.accountId],
    }, verifiableEvent);
  });
  afterAll(async () => {
    await lb.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const audit = (): FrameLocator => lb.page.frameLocator('iframe[title="Countersign audit log"]');
  const exportStatus = () => audit().getByTestId('export-status');
  const seqRange = (n: number) => Array.from({ length: n }, (_, i) => i + 1);
  /** Seqs of the seeded entries about pull request `pr` (its decisions). */
  const aboutPullRequest = (pr: number) => seqRange(top).filter((seq) => verifiableSeedPullRequest(seq) === pr);

  async function openAudit(person: 'admin' | 'riley' | 'reader') {
    await lb.actAs(person);
    await lb.page.goto(`${lb.url}/acme/payments/countersign-audit`);
    await audit().getByTestId('audit-status').getByText(`Showing the newest 25 entries of ${top}.`).waitFor();
  }

  async function applyPullRequestFilter(pr: string) {
    await audit().getByLabel('Pull request').fill(pr);
    await audit().getByRole('button', { name: 'Apply filters' }).click();
    await audit().getByTestId('audit-status').getByText('matching', { exact: false }).waitFor();
  }

  /** Chooses a format, clicks Download and returns the file the browser saved. */
  async function download(format: RegExp): Promise<{ name: string; text: string }> {
    await audit().getByRole('radio', { name: format }).check();
    const [file] = await Promise.all([lb.page.waitForEvent('download'), audit().getByRole('button', { name: 'Download' }).click()]);
    await exportStatus().getByText('Exported', { exact: false }).waitFor();
    const path = join(dir, file.suggestedFilename());
    await file.saveAs(path);
    return { name: file.suggestedFilename(), text: readFileSync(path, 'utf8') };
  }

  const csvSeqs = (text: string) => text.split('\r\n').slice(1, -1).map((row) => Number(row.split(',')[0]));

  it('downloads the whole evidence bundle even with a filter applied, over two pages, and it verifies with the CLI', async () => {
    expect(top).toBe(SEEDED);
    await openAudit('admin');
    await applyPullRequestFilter('6');
    await audit().getByRole('radio', { name: /Evidence bundle/ }).check();
    expect(await audit().getByTestId('export-scope').innerText()).toBe(
      `Exports the whole ledger (${top} entries now): a bundle is checked as one chain from its first entry. The pull request and date filter does not apply to this export.`,
    );
    const { name, text } = await download(/Evidence bundle/);
    expect(name).toBe(`countersign-${DEMO.repository.uuid.replace(/[{}]/g, '').slice(0, 8)}.evidence.jsonl`);
    expect(await exportStatus().innerText()).toContain(`Exported ${top} entries`);
    await lb.screenshotPage('audit-export');
    const lines = text.split('\n');
    expect(lines.at(-1)).toBe('');
    const [header, ...entries] = lines.slice(0, -1).map((line) => JSON.parse(line));
    expect(header).toMatchObject({ head: { seq: top } });
    // Every entry once, in order, though the export took two pages.
    expect(entries.map((e) => readEntry(e)?.seq)).toEqual(seqRange(top));

    const ledgerKey = await lb.invoke('admin', 'getLedgerKey', undefined, '/acme/payments/countersign-audit');
    expect(ledgerKey).toMatchObject({ ok: true });
    const verified = spawnSync(process.execPath, ['dist/countersign.cjs', 'verify', join(dir, name), '--json', '--app-key', ledgerKey.data.keyId], { encoding: 'utf8' });
    expect(verified.stderr).toBe('');
    expect(JSON.parse(verified.stdout)).toMatchObject({ ok: true, entries: top, problems: [] });
    expect(verified.status).toBe(0);
    // The same file with one entry left out does not verify.
    const cut = join(dir, 'cut.jsonl');
    writeFileSync(cut, lines.filter((_, i) => i !== 50).join('\n'));
    const refused = spawnSync(process.execPath, ['dist/countersign.cjs', 'verify', cut, '--json', '--app-key', ledgerKey.data.keyId], { encoding: 'utf8' });
    expect(JSON.parse(refused.stdout)).toMatchObject({ ok: false });
    expect(refused.status).not.toBe(0);
  });

  it('downloads CSV over two pages with one header and one row per entry, and again from the link', async () => {
    await audit().getByRole('button', { name: 'Clear filters' }).click();
    await audit().getByTestId('audit-status').getByText(`Showing the newest 25 entries of ${top}.`).waitFor();
    await audit().getByRole('radio', { name: /CSV/ }).check();
    expect(await audit().getByTestId('export-scope').innerText()).toBe('Exports every ledger entry.');
    const { name, text } = await download(/CSV/);
    expect(name).toMatch(/^countersign-[0-9a-f]{8}\.csv$/);
    expect(text.split('\r\n').filter((row) => row.startsWith('seq,'))).toHaveLength(1);
    expect(text.startsWith('seq,time,type,')).toBe(true);
    expect(csvSeqs(text)).toEqual(seqRange(top));
    expect(await exportStatus().innerText()).toContain(`Exported ${top} rows`);
    // The link stays, in case the browser did not save the file at once.
    const link = audit().getByRole('link', { name: `save ${name}` });
    expect(await link.getAttribute('download')).toBe(name);
    const [again] = await Promise.all([lb.page.waitForEvent('download'), link.click()]);
    await again.saveAs(join(dir, 'again.csv'));
    expect(readFileSync(join(dir, 'again.csv'), 'utf8')).toBe(text);
  });

  it("narrows CSV and Sigstore exports to the page's pull request and dates, saying what they export", async () => {
    await applyPullRequestFilter('3');
    await audit().getByRole('radio', { name: /CSV/ }).check();
    expect(await audit().getByTestId('export-scope').innerText()).toBe('Exports every ledger entry of pull request #3.');
    const csv = await download(/CSV/);
    expect(csv.name).toMatch(/-pr-3\.csv$/);
    expect(csvSeqs(csv.text)).toEqual(aboutPullRequest(3));
    expect(aboutPullRequest(3).length).toBeGreaterThan(5);

    const sigstore = await download(/Sigstore/);
    const bundles = sigstore.text.split('\n').filter(Boolean).map((line) => JSON.parse(line));
    expect(bundles).toHaveLength(aboutPullRequest(3).length);
    for (const bundle of bundles) {
      expect(bundle.mediaType).toBe('application/vnd.dev.sigstore.bundle.v0.3+json');
      expect(JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString('utf8')).predicate).toMatchObject({ pullRequest: 3 });
    }

    // Seeded entries are all on 2026-01-01: "to" includes its day; a range after it holds nothing but the header.
    await audit().getByLabel('From (UTC)').fill('2026-01-01');
    await audit().getByLabel('To (UTC)').fill('2026-01-01');
    await audit().getByRole('button', { name: 'Apply filters' }).click();
    await audit().getByTestId('audit-status').getByText('matching', { exact: false }).waitFor();
    await audit().getByRole('radio', { name: /CSV/ }).check();
    expect(await audit().getByTestId('export-scope').innerText()).toBe('Exports every ledger entry of pull request #3, 2026-01-01 to 2026-01-01 (UTC).');
    expect(csvSeqs((await download(/CSV/)).text)).toEqual(aboutPullRequest(3));
    await audit().getByLabel('From (UTC)').fill('2026-01-02');
    await audit().getByLabel('To (UTC)').fill('2026-01-02');
    await audit().getByRole('button', { name: 'Apply filters' }).click();
    await audit().getByTestId('audit-status').getByText('0 entries matching', { exact: false }).waitFor();
    const empty = await download(/CSV/);
    expect(empty.text.split('\r\n')).toEqual([expect.stringMatching(/^seq,time,type,/), '']);
    expect(await exportStatus().innerText()).toContain('Exported 0 rows');
  });

  it('shows how far an export has read between pages, and Cancel stops it with nothing saved', async () => {
    await audit().getByRole('radio', { name: /Evidence bundle/ }).check();
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let downloads = 0;
    const counted = () => void downloads++;
    lb.page.on('download', counted);
    // The second page's call waits until the test lets it go, so the export is caught between pages.
    await lb.page.route('**/host/api/invoke', async (route) => {
      const body = route.request().postDataJSON() as { functionKey?: string; payload?: { cursor?: string } } | null;
      if (body?.functionKey === 'exportEvidence' && body.payload?.cursor) await held;
      await route.continue();
    });
    try {
      await audit().getByRole('button', { name: 'Download' }).click();
      await exportStatus().getByText(`Exporting… 100 of ${top} ledger entries read`, { exact: false }).waitFor();
      expect(await audit().getByRole('progressbar', { name: 'Export progress' }).getAttribute('value')).toBe('100');
      await audit().getByRole('button', { name: 'Cancel' }).click();
      await exportStatus().getByText('Export cancelled; nothing was saved.').waitFor();
      const answered = lb.page.waitForResponse('**/host/api/invoke');
      release();
      await answered;
      // The late page is dropped: still cancelled, nothing saved, ready to start again.
      await lb.page.waitForTimeout(300);
      expect(await exportStatus().innerText()).toBe('Export cancelled; nothing was saved.');
      expect(downloads).toBe(0);
      expect(await audit().getByRole('button', { name: 'Download' }).isEnabled()).toBe(true);
      expect(await audit().getByRole('progressbar').count()).toBe(0);
    } finally {
      lb.page.off('download', counted);
      await lb.page.unroute('**/host/api/invoke');
    }
  });

  it.each(['riley', 'reader'] as const)('tells a non-admin (%s) that only repository admins export, and the resolver refuses them too', async (person) => {
    await openAudit(person);
    await audit().getByTestId('export-refused').getByText('Only repository admins can export Countersign evidence.', { exact: false }).waitFor();
    expect(await audit().getByRole('button', { name: 'Download' }).count()).toBe(0);
    const refused = await lb.invoke(person, 'exportEvidence', { format: 'csv' }, '/acme/payments/countersign-audit');
    expect(refused).toEqual({ ok: false, code: 'FORBIDDEN', message: expect.stringContaining('Only repository admins can export') });
  });
});
