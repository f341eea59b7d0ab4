import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { BitbucketState } from '../dev/fakeBitbucket';
import type { KvsState } from '../dev/fakeKvs';
import type { ForgeHost } from '../dev/forgeHost';

interface HostState {
  version: 1;
  kvs: KvsState;
  bitbucket: BitbucketState;
}

/** Loads the saved world into the fakes; false when there is none yet (a first start). */
export function loadState(host: ForgeHost, path: string): boolean {
  if (!existsSync(path)) return false;
  const state = JSON.parse(readFileSync(path, 'utf8')) as HostState;
  if (state.version !== 1) throw new Error(`${path} was written by another version of the local host; move it away to start afresh.`);
  host.kvs.importState(state.kvs);
  host.bitbucket.importState(state.bitbucket);
  return true;
}

/** Writes through a temporary file and a rename, so a crash never leaves half a state behind. */
export function saveState(host: ForgeHost, path: string): void {
  const state: HostState = { version: 1, kvs: host.kvs.exportState(), bitbucket: host.bitbucket.exportState() };
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(`${path}.tmp`, JSON.stringify(state));
  renameSync(`${path}.tmp`, path);
}
