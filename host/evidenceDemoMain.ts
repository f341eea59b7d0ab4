import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { exportDemoEvidence } from './evidenceDemo';

/**
 * `npm run evidence:demo -- <out.jsonl>`: writes the evidence bundle of the local host's demo repository,
 * from the state `npm start` keeps (COUNTERSIGN_STATE, or the file of COUNTERSIGN_DEMO's size), for
 * `npx countersign verify <out.jsonl> --app-key <key id>`.
 */
async function main(): Promise<number> {
  const out = process.argv[2];
  if (!out || process.argv.length > 3) {
    console.error('Usage: npm run evidence:demo -- <out.jsonl>   (exports the local host demo\'s evidence bundle; run "npm start" and try the demo first)');
    return 2;
  }
  const demo = process.env.COUNTERSIGN_DEMO ?? 'standard';
  const statePath = resolve(process.env.COUNTERSIGN_STATE ?? (demo === 'large' ? '.local/host/state-large.json' : '.local/host/state.json'));
  const { lines, appKeyId } = await exportDemoEvidence(statePath);
  writeFileSync(out, `${lines.join('\n')}\n`);
  console.log(`Wrote the evidence bundle of acme/payments (${lines.length - 1} ledger entries, from ${statePath}) to ${out}.`);
  console.log(`Check it: npx countersign verify ${out} --app-key ${appKeyId}`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  },
);
