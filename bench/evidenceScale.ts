import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { evidenceEntryLine, evidenceHeaderLine, generateAppKey, importAppSigningKey, publicHalf, type AppPublicJwk, type AppSigningKey, type LedgerHead } from '../src/core';
import { busyLedger } from '../test/fixtures/busyLedger';

/** The sizes measured; EVIDENCE_BENCH_ENTRIES=20000,50000 measures others. */
export const EVIDENCE_BENCH_SIZES = (process.env.EVIDENCE_BENCH_ENTRIES ?? '100000,1000000').split(',').map(Number);

/** The issue's budget: verification on one core. */
export const VERIFY_BUDGET_PER_SECOND = 5_000;

const CLI = resolve('dist/countersign.cjs');
const LEDGER = '{22222222-2222-4222-8222-222222222222}';
const WORKSPACE = '{11111111-1111-4111-8111-111111111111}';

interface Figures {
  entries: number;
  bytes: number;
  appendPerSecond: number;
  verifyPerSecond: number;
  peakRssMb: number;
  ok: boolean;
}

/**
 * 7. Evidence at scale: for each size, a busy ledger is written with the app's own writer (the append
 * rate counts `nextEntry` alone: JCS, SHA-256 and the app's signature), exported as a bundle file, and
 * verified by the built CLI (`countersign verify --json`) in a child process pinned to one core, which
 * reports its own peak resident memory. Memory must not grow with the bundle.
 */
export async function evidenceFigures(budget: (label: string, ok: boolean, detail?: string) => void): Promise<void> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first.`);
  const pinned = spawnSync('taskset', ['-c', '0', 'true']).status === 0;
  console.log(`\nEvidence bundles: append with nextEntry, verify with ${CLI.replace(`${process.cwd()}/`, '')} ${pinned ? 'pinned to one core (taskset -c 0)' : '(taskset missing: not pinned)'}`);
  console.log('entries      bundle MB   append/s   verify/s   verify peak RSS MB');
  const { privateJwk, keyId } = await generateAppKey();
  const appKey: AppSigningKey = { privateKey: await importAppSigningKey(privateJwk), keyId };
  const publicKey = publicHalf(privateJwk);
  const dir = mkdtempSync(join(tmpdir(), 'countersign-evidence-'));
  const rows: Figures[] = [];
  try {
    for (const entries of EVIDENCE_BENCH_SIZES) {
      const file = join(dir, `bundle-${entries}.jsonl`);
      const row = await measureSize(entries, file, appKey, publicKey, pinned);
      rows.push(row);
      if (!process.env.EVIDENCE_BENCH_KEEP) rmSync(file, { force: true });
      console.log(`${entries.toLocaleString('en').padStart(9)}  ${(row.bytes / 2 ** 20).toFixed(0).padStart(10)}  ${row.appendPerSecond.toFixed(0).padStart(9)}  ${row.verifyPerSecond.toFixed(0).padStart(9)}  ${row.peakRssMb.toFixed(0).padStart(19)}`);
    }
  } finally {
    if (!process.env.EVIDENCE_BENCH_KEEP) rmSync(dir, { recursive: true, force: true });
    else console.log(`kept ${dir}`);
  }
  budget('evidence: every bundle verifies', rows.every((r) => r.ok));
  budget(
    `evidence: verify >= ${VERIFY_BUDGET_PER_SECOND.toLocaleString('en')} entries/s on one core at every size`,
    rows.every((r) => r.verifyPerSecond >= VERIFY_BUDGET_PER_SECOND),
    rows.map((r) => `${r.verifyPerSecond.toFixed(0)}/s at ${r.entries.toLocaleString('en')}`).join(', '),
  );
  const smallest = rows[0]!;
  const largest = rows.at(-1)!;
  budget(
    'evidence: verify memory flat (peak RSS at the largest size within 1.25x + 16 MB of the smallest)',
    largest.peakRssMb <= smallest.peakRssMb * 1.25 + 16,
    `${smallest.peakRssMb.toFixed(0)} MB at ${smallest.entries.toLocaleString('en')}, ${largest.peakRssMb.toFixed(0)} MB at ${largest.entries.toLocaleString('en')} (${(largest.entries / smallest.entries).toFixed(0)}x the entries)`,
  );
}

async function measureSize(entries: number, file: string, appKey: AppSigningKey, publicJwk: AppPublicJwk, pinned: boolean): Promise<Figures> {
  // Entries first, then the header (it names the head), then both joined: nothing held in memory.
  const body = `${file}.body`;
  const out = openSync(body, 'w');
  let appendMs = 0;
  let head = null as LedgerHead | null;
  try {
    let batch = '';
    const ledger = busyLedger({ ledger: LEDGER, workspace: WORKSPACE, entries, appKey, onAppend: (ms) => (appendMs += ms) });
    for await (const signed of ledger) {
      head = { seq: (head?.seq ?? 0) + 1, hash: signed.hash };
      batch += `${evidenceEntryLine(signed)}\n`;
      if (batch.length > 1 << 20) {
        writeSync(out, batch);
        batch = '';
      }
    }
    writeSync(out, batch);
  } finally {
    closeSync(out);
  }
  writeFileSync(file, `${evidenceHeaderLine({ ledger: LEDGER, exportedAt: new Date().toISOString(), head, appKeys: [{ keyId: appKey.keyId, publicJwk }] })}\n`);
  spawnSync('sh', ['-c', 'cat "$1" >> "$2" && rm "$1"', 'sh', body, file], { stdio: 'inherit' });
  const bytes = statSync(file).size;

  const probe = join(file, '..', 'peak.cjs');
  writeFileSync(probe, "process.on('exit', () => process.stderr.write(`\\npeak-rss-kb ${process.resourceUsage().maxRSS}\\n`));\n");
  const command = [process.execPath, '--require', probe, CLI, 'verify', file, '--json', '--app-key', appKey.keyId];
  const started = performance.now();
  const run = pinned ? spawnSync('taskset', ['-c', '0', ...command], { encoding: 'utf8', maxBuffer: 1 << 28 }) : spawnSync(command[0]!, command.slice(1), { encoding: 'utf8', maxBuffer: 1 << 28 });
  const seconds = (performance.now() - started) / 1000;
  const peak = /peak-rss-kb (\d+)/.exec(run.stderr ?? '');
  let ok = false;
  try {
    const report = JSON.parse(run.stdout) as { ok: boolean; entries: number };
    ok = run.status === 0 && report.ok && report.entries === entries;
  } catch {
    ok = false;
  }
  if (!ok) console.log(`  verify exited ${run.status}: ${(run.stdout ?? '').slice(0, 600)} ${(run.stderr ?? '').slice(0, 600)}`);
  return { entries, bytes, appendPerSecond: entries / (appendMs / 1000), verifyPerSecond: entries / seconds, peakRssMb: peak ? Number(peak[1]) / 1024 : Number.NaN, ok };
}
