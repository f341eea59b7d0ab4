import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { evidenceEntryLine, evidenceHeaderLine, type LedgerHead, type SignedLedgerEntry } from '../../src/core';
import { EvidenceVerifier } from '../../src/core/evidence';
import { nodeCryptoSuite } from '../../src/cli/nodeCrypto';
import { busyLedger } from '../fixtures/busyLedger';
import { insiderKey } from '../fixtures/evidenceRun';
import { inLedgerKeys } from '../fixtures/keyRoster';
import { REPOSITORY, WORKSPACE } from '../fixtures/world';

/**
 * Verification speed and memory on a ledger of 20,000 entries shaped like a busy repository's (see
 * busyLedger: half the entries carry an approver's ECDSA envelope, a quarter are merges re-run), checked
 * as the CLI checks it, with Node's synchronous crypto.
 */
const ENTRIES = 20_000;

let lines: string[];
let appKeyId: string;
beforeAll(async () => {
  const key = await insiderKey();
  appKeyId = key.signing.keyId;
  const body: string[] = [];
  const first: SignedLedgerEntry[] = [];
  let head = null as LedgerHead | null;
  for await (const signed of busyLedger({ ledger: REPOSITORY, workspace: WORKSPACE, entries: ENTRIES, appKey: key.signing })) {
    head = { seq: (head?.seq ?? 0) + 1, hash: signed.hash };
    body.push(evidenceEntryLine(signed));
    // busyLedger enrols every member before the first pull request.
    if (first.length < 100) first.push(signed);
  }
  const keys = await inLedgerKeys(REPOSITORY, first, head, key.signing);
  lines = [evidenceHeaderLine({ ledger: REPOSITORY, exportedAt: '2026-11-30T00:00:00.000Z', head, appKeys: [{ keyId: appKeyId, publicJwk: key.publicJwk }], keys }), ...body];
}, 300_000);

async function run(onProgress?: (n: number) => void) {
  const verifier = await EvidenceVerifier.open(lines[0]!, { trustedAppKeyIds: [appKeyId], suite: nodeCryptoSuite(), ...(onProgress ? { onProgress } : {}) });
  if (!(verifier instanceof EvidenceVerifier)) throw new Error(verifier.error);
  for (const line of lines.slice(1)) await verifier.add(line);
  return verifier.finish();
}

/** Microseconds per P-256 verify through Node's synchronous call, measured now, next to the run it bounds. */
function p256VerifyMicros(): number {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const message = new Uint8Array(2500);
  const signature = sign('sha256', message, privateKey);
  const rounds = 2000;
  const started = performance.now();
  for (let i = 0; i < rounds; i++) verify('sha256', message, publicKey, signature);
  return ((performance.now() - started) / rounds) * 1000;
}

/**
 * The issue asks for 5,000 entries a second on one core. Every entry carries an app signature and every
 * decision an approver's: 1.5 P-256 verifies an entry for this mix, whose cost alone (measured in the
 * same run) caps the rate this machine can reach. What is asserted is a share of that cap, so that a
 * gross regression in the verifier's own work fails whatever the machine's speed. Inside Jest, beside
 * another worker, the verifier reaches about 0.21–0.35 of it (the built CLI, pinned and alone, 0.38–0.44,
 * which `npm run bench` holds to 0.25); the floor here leaves room for that noise.
 */
const SHARE_OF_CEILING = 0.12;

it(`verifies ${ENTRIES.toLocaleString('en')} entries of a busy ledger at ${SHARE_OF_CEILING * 100}%+ of what its signature checks alone allow`, async () => {
  const before = p256VerifyMicros();
  const started = performance.now();
  const report = await run();
  const seconds = (performance.now() - started) / 1000;
  const micros = (before + p256VerifyMicros()) / 2;
  const rate = report.entries / seconds;
  const ceiling = report.entries / (((report.entries + report.counts.decisions) * micros) / 1e6);
  console.log(
    `evidence: ${report.entries} entries in ${seconds.toFixed(2)} s = ${rate.toFixed(0)} entries/s (${report.counts.decisions} ECDSA decisions, ${report.counts.merges} merges re-run); ` +
      `P-256 verify ${micros.toFixed(0)} µs, so the signatures alone allow ${ceiling.toFixed(0)} entries/s: ${((100 * rate) / ceiling).toFixed(0)}% of that`,
  );
  expect(report).toMatchObject({ ok: true, entries: ENTRIES, problems: [] });
  expect(report.counts.decisions).toBeGreaterThan(ENTRIES * 0.49);
  expect(report.counts.merges).toBeGreaterThan(ENTRIES * 0.24);
  expect(report.merges.every((m) => m.reproduced && m.pass)).toBe(true);
  expect(rate / ceiling).toBeGreaterThanOrEqual(SHARE_OF_CEILING);
}, 120_000);

it('keeps memory flat: what it retains does not grow with the bundle', async () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const bytes = lines.reduce((sum, l) => sum + l.length + 1, 0);
  gc();
  const before = process.memoryUsage().heapUsed;
  const samples: { entries: number; heap: number }[] = [];
  const report = await run((n) => {
    if (n % 4000 === 0) {
      gc();
      samples.push({ entries: n, heap: process.memoryUsage().heapUsed - before });
    }
  });
  expect(report.ok).toBe(true);
  // The first sample is taken while the run is still warming up (compiled code, caches); growth is judged after it.
  const first = samples[1]!;
  const last = samples.at(-1)!;
  const mb = (b: number) => (b / 2 ** 20).toFixed(2);
  console.log(`evidence: bundle ${mb(bytes)} MB; heap retained over the start ${samples.map((s) => `${s.entries}: ${mb(s.heap)} MB`).join(', ')}`);
  // From the second sample to the last, two and a half times as many entries: the state kept grows by a sliver of their size.
  expect(last.heap - first.heap).toBeLessThan(bytes / 20);
  expect(last.heap).toBeLessThan(bytes / 10);
}, 120_000);
