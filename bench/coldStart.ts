/**
 * Run by the bench as a fresh Node process: the bundled production handler (src/index.ts, through
 * `@forge/kvs` and `@forge/api`) over the stand-ins holding a saved state, answering one merge check.
 * Prints its timings, measured from the start of the process, as JSON.
 */
import { mergeCheck } from '../src/index';
import { ForgeHost } from '../dev/forgeHost';
import { manifestEntities } from '../dev/manifestEntities';
import { loadState } from '../host/state';
import { REPOSITORY, WORKSPACE } from '../test/fixtures/world';

async function main() {
  const loadedMs = performance.now();
  const host = ForgeHost.create(manifestEntities(), () => Date.parse('2026-11-22T10:00:00.000Z'));
  loadState(host, process.argv[2]!);
  host.install();
  const started = performance.now();
  const result = await mergeCheck({ workspace: { uuid: WORKSPACE }, repository: { uuid: REPOSITORY }, pullrequest: { id: 1 }, trigger: { type: 'on-merge' } });
  const answeredMs = performance.now();
  process.stdout.write(JSON.stringify({ loadedMs, answeredMs, checkMs: answeredMs - started, success: result.success }));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
