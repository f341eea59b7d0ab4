import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEMO } from '../../host/demo';
import { exportDemoEvidence } from '../../host/evidenceDemo';
import { LocalHost } from '../../host/localHost';
import { readEntry, type SignedLedgerEntry } from '../../src/core';
import { aSigner, signStatement, statementOf } from '../fixtures/world';

/**
 * The local host's demo, driven as a person would (a policy saved, keys enrolled and approvals signed
 * through the card's resolvers, Countersign's auto-merge of pull request #1, a Merge of #2 pressed),
 * exported through the real `exportEvidence` resolver as the admin, page by page, and checked by the
 * built `countersign` CLI: it verifies, and a byte changed in one entry fails naming that entry.
 */
const { admin, riley, sam } = DEMO.people;
const WS = DEMO.workspace.uuid;
const REPO = DEMO.repository.uuid;

let dir: string;
let cli: string;
let statePath: string;
let bundle: string;
let appKeyId: string;
let lines: string[];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'countersign-demo-evidence-'));
  cli = join(dir, 'countersign.cjs');
  // The same bundle `npm run build` writes to dist/countersign.cjs (scripts/buildCli.mjs), built from this source.
  const built = spawnSync(process.execPath, ['scripts/buildCli.mjs', cli], { encoding: 'utf8' });
  if (built.status !== 0) throw new Error(`building the CLI failed: ${built.stderr}`);

  statePath = join(dir, 'state.json');
  const host = new LocalHost({ root: process.cwd(), statePath });
  const url = await host.listen(0);
  try {
    const post = (path: string, body: unknown, as: string) =>
      fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', cookie: `cs_user=${encodeURIComponent(as)}` }, body: JSON.stringify(body) }).then(async (r) => ({ status: r.status, json: (await r.json()) as any }));
    /** A resolver call from the app frame the host serves on `path` to `as`, as its page makes it. */
    const invoke = async (as: string, functionKey: string, payload?: unknown, path = '/acme/payments/admin/countersign') => {
      const html = await (await fetch(`${url}${path}`, { headers: { cookie: `cs_user=${encodeURIComponent(as)}` } })).text();
      const src = new URL(/<iframe[^>]* src="([^"]+)"/.exec(html)![1]!.replace(/&#38;/g, '&'));
      return (await post('/host/api/invoke', { frame: src.searchParams.get('frame'), functionKey, payload }, as)).json;
    };
    const card = '/acme/payments/pull-requests/1';
    const signAs = async (accountId: string) => {
      const signer = await aSigner(accountId);
      expect(await invoke(accountId, 'enrollKey', { publicKey: signer.publicKey, label: 'Laptop' }, card)).toMatchObject({ ok: true });
      const panel = (await invoke(accountId, 'getPanelState', undefined, card)).data;
      const statement = statementOf({
        workspace: WS,
        repository: REPO,
        pullRequest: 1,
        commit: panel.pullRequest.headCommit,
        targetBranch: panel.pullRequest.targetBranch,
        decision: 'approve',
        policy: panel.policy.hash,
        signer: accountId,
        keyId: signer.keyId,
        issuedAt: new Date().toISOString(),
        challenge: panel.challenge.value,
      });
      expect(await invoke(accountId, 'submitDecision', { envelope: await signStatement(signer, statement) }, card)).toMatchObject({ ok: true });
    };

    // The README's walk through: 2 of Maintainers on main, with build status and auto-merge.
    const rules = [{ branchPattern: 'main', requirements: [{ group: 'Maintainers', members: [riley.accountId, sam.accountId], count: 2 }], commitStatus: true, autoMerge: true, mergeStrategy: 'squash' }];
    expect(await invoke(admin.accountId, 'saveSettings', { baseVersion: 0, rules })).toMatchObject({ ok: true });
    await signAs(riley.accountId);
    await signAs(sam.accountId);
    await host.events.idle();
    const repo = host.forge.bitbucket.repositories[0]!;
    expect(repo.pullRequests.get(1)!.state).toBe('MERGED');
    // Pull request #2 (into docs, which no rule gates) merged with the host's Merge button.
    expect((await post('/host/api/merge', { workspace: 'acme', repository: 'payments', pullRequest: 2, confirm: true }, admin.accountId)).json.merged).toBe(true);
    await host.events.idle();

    // The bundle, page by page through the real resolver, as the admin (from the audit page's frame).
    let content = '';
    let pages = 0;
    let cursor: string | undefined;
    do {
      const page = await invoke(admin.accountId, 'exportEvidence', { format: 'bundle', ...(cursor ? { cursor } : {}) }, '/acme/payments/countersign-audit');
      expect(page).toMatchObject({ ok: true, data: { mediaType: 'application/jsonl' } });
      content += page.data.content;
      cursor = page.data.nextCursor;
      pages++;
    } while (cursor && pages < 50);
    expect(cursor).toBeUndefined();
    appKeyId = (await invoke(admin.accountId, 'getLedgerKey')).data.keyId;
    lines = content.split('\n').filter(Boolean);
    bundle = join(dir, 'demo.evidence.jsonl');
    writeFileSync(bundle, content);
  } finally {
    await host.close();
  }
}, 60_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const verify = (file: string, ...extra: string[]) => spawnSync(process.execPath, [cli, 'verify', file, '--json', ...extra], { encoding: 'utf8', cwd: dir });

describe("the local host demo's evidence bundle", () => {
  it('verifies with the built CLI, pinned to the app key, counting the enrolments, decisions, policy and merges', () => {
    const run = verify(bundle, '--app-key', appKeyId);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const report = JSON.parse(run.stdout);
    expect(report).toMatchObject({ ok: true, ledger: REPO, appKeys: [appKeyId], entries: lines.length - 1, problems: [] });
    expect(report.counts.decisions).toBeGreaterThan(0);
    expect(report.counts.merges).toBeGreaterThan(0);
    expect(report.counts).toMatchObject({ decisions: 2, keys: 2, policies: 1, merges: 2, autoMerges: 1, bypassed: 0 });
    expect(report.merges).toEqual([
      expect.objectContaining({ type: 'merge.recorded', pullRequest: 1, pass: true, reproduced: true }),
      expect.objectContaining({ type: 'merge.recorded', pullRequest: 2, reproduced: true }),
    ]);
  });

  it('fails, naming the entry, once one byte of an entry is changed', () => {
    const entries = lines.slice(1).map((line) => JSON.parse(line) as SignedLedgerEntry);
    const index = entries.findIndex((e) => readEntry(e)?.event.type === 'decision.accepted');
    const seq = readEntry(entries[index]!)!.seq;
    const payload = Buffer.from(entries[index]!.envelope.payload, 'base64');
    // One byte inside the signer's account id: the JSON still reads, the bytes are no longer the ones signed.
    const at = payload.indexOf(Buffer.from(riley.accountId.slice(-5)));
    expect(at).toBeGreaterThan(0);
    payload[at]! ^= 0x01;
    const changed = [...lines];
    changed[index + 1] = JSON.stringify({ ...entries[index]!, envelope: { ...entries[index]!.envelope, payload: payload.toString('base64') } });
    const tampered = join(dir, 'tampered.jsonl');
    writeFileSync(tampered, `${changed.join('\n')}\n`);

    const run = verify(tampered, '--app-key', appKeyId);
    expect(run.status).toBe(1);
    const report = JSON.parse(run.stdout);
    expect(report.ok).toBe(false);
    expect(report.problems.length).toBeGreaterThan(0);
    expect(report.problems[0]).toMatchObject({ seq, line: index + 2 });
    expect(report.problems.map((p: { code: string }) => p.code)).toEqual(expect.arrayContaining(['HASH_MISMATCH', 'BAD_SIGNATURE']));
  });

  it('is what `npm run evidence:demo` exports from the state file `npm start` keeps', async () => {
    const fromDisk = await exportDemoEvidence(statePath);
    expect(fromDisk.appKeyId).toBe(appKeyId);
    // The same entries and keys; only the export time (the header's and the roster's, so its signature) differs.
    expect(fromDisk.lines.slice(1)).toEqual(lines.slice(1));
    const headerOf = (line: string) => {
      const { exportedAt: _at, keys, ...header } = JSON.parse(line);
      const { issuedAt: _issued, ...roster } = JSON.parse(Buffer.from(keys.roster.payload, 'base64').toString('utf8'));
      return { ...header, roster, events: keys.events };
    };
    expect(headerOf(fromDisk.lines[0]!)).toEqual(headerOf(lines[0]!));
    expect(headerOf(lines[0]!).roster.keys.length).toBeGreaterThan(0);
    const out = join(dir, 'from-disk.jsonl');
    const script = spawnSync(process.execPath, ['scripts/evidenceDemo.mjs', out], { encoding: 'utf8', env: { ...process.env, COUNTERSIGN_STATE: statePath } });
    expect(script.status).toBe(0);
    expect(script.stdout).toContain(`--app-key ${appKeyId}`);
    expect(readFileSync(out, 'utf8').split('\n').filter(Boolean).slice(1)).toEqual(lines.slice(1));
    expect(verify(out, '--app-key', appKeyId).status).toBe(0);
    await expect(exportDemoEvidence(join(dir, 'none.json'))).rejects.toThrow('run "npm start"');
  }, 60_000);
});
