import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * `forge lint`'s own checks (@forge/lint), run offline by scripts/forgeLint.mjs against Bitbucket's
 * vendored API description. @forge/lint only sees Bitbucket calls written as `requestBitbucket(route`…`)`;
 * the adapter's reads go through `getJson(app, route`…`)` and are covered by scopes.test.ts instead.
 */
const root = join(__dirname, '..');

interface Report {
  filesChecked: string[];
  bitbucketCalls: { file: string; method: string; apiPath: string | null }[];
  problems: { kind: string; file: string; message: string; missingPermission?: string }[];
  errors: number;
  linterFailures: string[];
}

function forgeLint(appDir: string): Promise<{ exitCode: number; report: Report }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [join(root, 'scripts/forgeLint.mjs'), appDir, '--json'], { maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      const exitCode = error ? error.code : 0;
      if (typeof exitCode !== 'number' || exitCode > 1) return reject(new Error(`forgeLint failed (${exitCode}): ${stderr}`));
      resolve({ exitCode, report: JSON.parse(stdout) });
    });
  });
}

/** A copy of the app whose manifest lacks the given scopes; static/ (with its build) is linked. */
function appWithout(scopes: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'countersign-lint-'));
  cpSync(join(root, 'src'), join(dir, 'src'), { recursive: true });
  for (const file of ['tsconfig.json', '.gitignore']) cpSync(join(root, file), join(dir, file));
  symlinkSync(join(root, 'static'), join(dir, 'static'));
  const manifest = readFileSync(join(root, 'manifest.yml'), 'utf8');
  for (const scope of scopes) expect(manifest).toContain(`    - ${scope}\n`);
  writeFileSync(join(dir, 'manifest.yml'), scopes.reduce((text, scope) => text.replace(`    - ${scope}\n`, ''), manifest));
  return dir;
}

describe('forge lint, offline', () => {
  let copy: string;
  let real: Awaited<ReturnType<typeof forgeLint>>;
  let reduced: Awaited<ReturnType<typeof forgeLint>>;

  beforeAll(async () => {
    copy = appWithout(['read:pullrequest:bitbucket', 'read:repository:bitbucket']);
    [real, reduced] = await Promise.all([forgeLint(root), forgeLint(copy)]);
    // Two whole-app lints at once take 50-60 s on this 2-core machine when another worker is busy.
  }, 180_000);
  afterAll(() => copy && rmSync(copy, { recursive: true, force: true }));

  it('finds no problems in the app', () => {
    expect(real.report.problems).toEqual([]);
    expect(real.report.linterFailures).toEqual([]);
    expect(real.exitCode).toBe(0);
  });

  it('actually checked every .ts file under src/ and the Bitbucket call it can see', () => {
    const sources = readdirSync(join(root, 'src'), { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.ts'))
      .map((f) => `src/${f}`)
      .sort();
    expect(sources).toContain('src/index.ts');
    expect(real.report.filesChecked).toEqual(sources);
    expect(real.report.bitbucketCalls.map((c) => `${c.file} ${c.method} ${c.apiPath}`)).toEqual([
      'src/adapters/bitbucketRest.ts POST /repositories/{workspace}/{repo_slug}/commit/{commit}/statuses/build',
      'src/adapters/bitbucketRest.ts POST /repositories/{workspace}/{repo_slug}/pullrequests/{pull_request_id}/merge',
      'src/adapters/bitbucketRest.ts GET /repositories/{workspace}/{repo_slug}/pullrequests/{pull_request_id}/merge/task-status/{task_id}',
    ]);
  });

  it('reports the scopes missing from a manifest that lacks them', () => {
    expect(reduced.exitCode).toBe(1);
    expect(reduced.report.problems.every((p) => p.kind === 'error')).toBe(true);
    expect(reduced.report.problems).toEqual(expect.arrayContaining([
      expect.objectContaining({ file: 'src/adapters/bitbucketRest.ts', missingPermission: 'read:repository:bitbucket' }),
      expect.objectContaining({ file: 'src/adapters/bitbucketRest.ts', missingPermission: 'read:pullrequest:bitbucket', message: expect.stringContaining('/merge requires') }),
      // The triggers need the scopes of the events they subscribe to, and so does the merge check.
      expect.objectContaining({ file: 'manifest.yml', message: "Trigger event: 'avi:bitbucket:push:repository' requires 'read:repository:bitbucket' scope" }),
      expect.objectContaining({ file: 'manifest.yml', message: "Trigger event: 'avi:bitbucket:fulfilled:pullrequest' requires 'read:pullrequest:bitbucket' scope" }),
      expect.objectContaining({ file: 'manifest.yml', message: expect.stringContaining("bitbucket:mergeCheck module 'countersign-merge-check' requires 'read:pullrequest:bitbucket'") }),
    ]));
  });
});
