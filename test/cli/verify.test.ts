import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { main } from '../../src/cli/verify';
import { evidenceRun } from '../fixtures/evidenceRun';

/** `countersign verify`: exit codes, the report in words and as JSON, in-process and as the built `bin`. */
let dir: string;
let good: string;
let tampered: string;
let appKeyId: string;

beforeAll(async () => {
  const { world, lines } = await evidenceRun();
  appKeyId = (await world.deps.ledger.appPublicKey()).keyId;
  world.dispose();
  dir = mkdtempSync(join(tmpdir(), 'countersign-cli-'));
  good = join(dir, 'good.jsonl');
  writeFileSync(good, `${lines.join('\n')}\n`);
  tampered = join(dir, 'tampered.jsonl');
  writeFileSync(tampered, `${lines.filter((_, i) => i !== 4).join('\n')}\n`);
  writeFileSync(join(dir, 'not-a-bundle.jsonl'), 'hello\n');
});

async function cli(args: string[], options: { tty?: boolean; stdin?: string } = {}) {
  let stdout = '';
  let stderr = '';
  const code = await main(args, {
    stdout: { write: (t: string) => (stdout += t), isTTY: options.tty ?? false },
    stderr: { write: (t: string) => (stderr += t), isTTY: options.tty ?? false },
    stdin: Readable.from([options.stdin ?? '']),
  });
  return { code, stdout, stderr };
}

describe('countersign verify', () => {
  it('exits 0 on an intact bundle and says what it checked', async () => {
    const { code, stdout } = await cli(['verify', good, '--app-key', appKeyId]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^VERIFIED /);
    expect(stdout).toContain('3 decisions, 3 key enrolments, 1 revocations, 2 policy versions, 2 merges (1 bypassed), 1 auto-merges');
    expect(stdout).toMatch(/merge {2}#1 .*quorum met, re-run agrees/);
    expect(stdout).toMatch(/MERGE_BYPASSED {2}Entry 12: pull request #2 was merged/);
  });

  it('exits 1 on a tampered bundle and names the entry and why', async () => {
    const { code, stdout } = await cli(['verify', tampered]);
    expect(code).toBe(1);
    expect(stdout).toMatch(/^FAILED /);
    expect(stdout).toMatch(/entry 5 \(line 5\) {2}BAD_SEQUENCE {2}Entry 5: Expected seq 4 but found 5\./);
  });

  it('exits 1 when the bundle is signed by an app key other than the one pinned', async () => {
    const { code, stdout } = await cli(['verify', good, '--app-key', 'somebody-else']);
    expect(code).toBe(1);
    expect(stdout).toContain('UNTRUSTED_APP_KEY');
  });

  it('exits 2 on input that is not a bundle, a missing file or a bad command line', async () => {
    expect(await cli(['verify', join(dir, 'not-a-bundle.jsonl')])).toMatchObject({ code: 2, stderr: expect.stringContaining('first line is not JSON') });
    expect(await cli(['verify', join(dir, 'missing.jsonl')])).toMatchObject({ code: 2, stderr: expect.stringContaining('Could not read') });
    expect(await cli(['verify'])).toMatchObject({ code: 2, stderr: expect.stringContaining('Usage: countersign verify') });
    expect(await cli(['verify', good, '--frobnicate'])).toMatchObject({ code: 2 });
    expect(await cli(['sign', good])).toMatchObject({ code: 2 });
    expect(await cli(['verify', '-'], { stdin: '' })).toMatchObject({ code: 2, stderr: expect.stringContaining('empty') });
  });

  it('--json prints the report: ok, counts, merges, problems and notices', async () => {
    const ok = JSON.parse((await cli(['verify', good, '--json'])).stdout);
    expect(ok).toEqual({
      ok: true,
      format: 'countersign-evidence',
      version: 2,
      ledger: expect.any(String),
      appKeys: [appKeyId],
      entries: 12,
      head: { seq: 12, hash: expect.stringMatching(/^[0-9a-f]{64}$/) },
      counts: { decisions: 3, keys: 3, revocations: 1, policies: 2, merges: 2, bypassed: 1, autoMerges: 1, keyEvents: 0, deploymentDecisions: 0, deployments: 0, deploymentReports: 0, flagged: 0 },
      merges: [
        { seq: 11, type: 'merge.recorded', pullRequest: 1, commit: expect.any(String), pass: true, reproduced: true },
        { seq: 12, type: 'merge.bypassed', pullRequest: 2, commit: expect.any(String), pass: false, reproduced: true },
      ],
      deployments: [],
      findings: [],
      problems: [],
      moreProblems: 0,
      notices: [expect.objectContaining({ code: 'APP_KEY_NOT_PINNED', line: 1 }), expect.objectContaining({ code: 'MERGE_BYPASSED', seq: 12, line: 13 })],
    });
    const failed = await cli(['verify', tampered, '--json']);
    expect(failed.code).toBe(1);
    const report = JSON.parse(failed.stdout);
    expect(report.ok).toBe(false);
    expect(report).not.toHaveProperty('head');
    expect(report.problems).toContainEqual({ seq: 5, line: 5, code: 'BAD_SEQUENCE', message: 'Entry 5: Expected seq 4 but found 5.' });
    const unreadable = await cli(['verify', join(dir, 'not-a-bundle.jsonl'), '--json']);
    expect(unreadable.code).toBe(2);
    expect(JSON.parse(unreadable.stdout)).toEqual({ ok: false, error: { code: 'UNREADABLE', message: expect.any(String) } });
  });

  it('reads standard input with -', async () => {
    expect((await cli(['verify', '-'], { stdin: readFileSync(good, 'utf8') })).code).toBe(0);
  });

  it('draws a progress bar only on a terminal, and clears it before the report', async () => {
    const plain = await cli(['verify', good]);
    expect(plain.stdout).not.toContain('\r');
    const tty = await cli(['verify', good], { tty: true });
    expect(tty.stdout).toMatch(/^\r\[#+\.*\] \d+\/12 entries/);
    expect(tty.stdout).toContain('\r\x1b[2KVERIFIED ');
    const json = await cli(['verify', good, '--json'], { tty: true });
    expect(() => JSON.parse(json.stdout)).not.toThrow();
  });

  it('works as the built bin (node, no TypeScript, no dependencies installed beside it)', () => {
    const outfile = join(dir, 'countersign.cjs');
    const built = spawnSync(process.execPath, ['scripts/buildCli.mjs', outfile], { encoding: 'utf8' });
    expect(built.status).toBe(0);
    const run = (file: string, ...extra: string[]) => spawnSync(process.execPath, [outfile, 'verify', file, ...extra], { encoding: 'utf8', cwd: dir });
    expect(run(good).status).toBe(0);
    expect(run(tampered).status).toBe(1);
    expect(run(join(dir, 'missing.jsonl')).status).toBe(2);
    expect(JSON.parse(run(good, '--json').stdout)).toMatchObject({ ok: true, entries: 12 });
  }, 30_000);
});
