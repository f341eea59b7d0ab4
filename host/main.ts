import { resolve } from 'node:path';
import { LocalHost } from './localHost';

/** `npm start`: the local Bitbucket host, with its state on disk (COUNTERSIGN_STATE) and a port (PORT). */
async function main() {
  const root = process.cwd();
  const statePath = resolve(process.env.COUNTERSIGN_STATE ?? '.local/host/state.json');
  const host = new LocalHost({ root, statePath });
  const url = await host.listen(Number(process.env.PORT ?? 4700));
  console.log(`Countersign local Bitbucket host: ${url}`);
  console.log(`State is kept in ${statePath}; delete it to start again from the demo workspace.`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
