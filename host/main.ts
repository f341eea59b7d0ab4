import { resolve } from 'node:path';
import { LocalHost } from './localHost';

/**
 * `npm start`: the local Bitbucket host, with its state on disk (COUNTERSIGN_STATE) and a port (PORT).
 * `COUNTERSIGN_DEMO=large` seeds a workspace of 5,000 generated members besides the demo's people,
 * kept in its own state file so switching back and forth loses neither.
 */
async function main() {
  const root = process.cwd();
  const demo = process.env.COUNTERSIGN_DEMO ?? 'standard';
  if (demo !== 'standard' && demo !== 'large') throw new Error(`COUNTERSIGN_DEMO must be "standard" or "large", not "${demo}".`);
  const statePath = resolve(process.env.COUNTERSIGN_STATE ?? (demo === 'large' ? '.local/host/state-large.json' : '.local/host/state.json'));
  const host = new LocalHost({ root, statePath, demo });
  const url = await host.listen(Number(process.env.PORT ?? 4700));
  console.log(`Countersign local Bitbucket host: ${url}`);
  console.log(`State is kept in ${statePath}; delete it to start again from the demo workspace.`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
