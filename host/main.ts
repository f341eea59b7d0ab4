import { resolve } from 'node:path';
import { LocalHost } from './localHost';

/**
 * `npm start`: the local Bitbucket host, with its state on disk (COUNTERSIGN_STATE), its pages on a port
 * (PORT, 4700) and the app frames on another site: COUNTERSIGN_FRAME_HOST (localhost) and FRAME_PORT (PORT + 1).
 * `COUNTERSIGN_DEMO=large` seeds a workspace of 5,000 generated members besides the demo's people,
 * kept in its own state file so switching back and forth loses neither.
 */
async function main() {
  const root = process.cwd();
  const demo = process.env.COUNTERSIGN_DEMO ?? 'standard';
  if (demo !== 'standard' && demo !== 'large') throw new Error(`COUNTERSIGN_DEMO must be "standard" or "large", not "${demo}".`);
  const statePath = resolve(process.env.COUNTERSIGN_STATE ?? (demo === 'large' ? '.local/host/state-large.json' : '.local/host/state.json'));
  const host = new LocalHost({ root, statePath, demo, frameHostname: process.env.COUNTERSIGN_FRAME_HOST || undefined });
  const port = Number(process.env.PORT ?? 4700);
  const url = await host.listen(port, '127.0.0.1', process.env.FRAME_PORT ? Number(process.env.FRAME_PORT) : port + 1);
  console.log(`Countersign local Bitbucket host: ${url} (app frames from ${host.frameOrigin})`);
  console.log(`State is kept in ${statePath}; delete it (or press Reset demo) to start again from the demo workspace.`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
