import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Runs Jest with the summary reporter on a throwaway folder of plain JavaScript tests. */
function runJest(files: Record<string, string>): { status: number | null; summary: string | undefined; output: string } {
  const dir = mkdtempSync(join(tmpdir(), 'countersign-reporter-'));
  try {
    for (const [name, source] of Object.entries(files)) writeFileSync(join(dir, name), source);
    const config = { rootDir: dir, testMatch: ['**/*.test.js'], transform: {}, reporters: [join(__dirname, 'summaryReporter.js')] };
    const run = spawnSync(process.execPath, [require.resolve('jest/bin/jest'), '--config', JSON.stringify(config), '--ci'], { encoding: 'utf8', timeout: 60_000 });
    const output = run.stdout + run.stderr;
    return { status: run.status, summary: output.match(/^countersign: \d+ passed, \d+ failed.*$/m)?.[0], output };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('the closing summary line', () => {
  const passing = "test('adds', () => { expect(1 + 1).toBe(2); });";

  it('counts a suite that throws at import as a failure, and the run exits non-zero', () => {
    const run = runJest({ 'good.test.js': passing, 'broken.test.js': "throw new Error('cannot load');\ntest('never runs', () => {});" });
    expect(run.summary).toBe('countersign: 1 passed, 1 failed');
    expect(run.output).toContain('suite did not run');
    expect(run.status).not.toBe(0);
  });

  it('counts a suite whose import fails as a failure', () => {
    const run = runJest({ 'good.test.js': passing, 'missing.test.js': "require('./nowhere');\ntest('never runs', () => {});" });
    expect(run.summary).toBe('countersign: 1 passed, 1 failed');
    expect(run.status).not.toBe(0);
  });

  it('reports a clean run as clean', () => {
    const run = runJest({ 'good.test.js': passing });
    expect(run.summary).toBe('countersign: 1 passed, 0 failed');
    expect(run.status).toBe(0);
  });
});
