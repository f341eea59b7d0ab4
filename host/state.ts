import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { BitbucketState } from '../dev/fakeBitbucket';
import type { KvsState } from '../dev/fakeKvs';
import type { ForgeHost } from '../dev/forgeHost';

/**
 * 5: approvals in sealed buckets, revocations per key with a sealed index (entries packed in one string
 * a page), sealed policy versions, the app-signed ledger and the app's secrets. An older file (version 1:
 * one approvals record per pull request, one installation-wide revocation list; 2 to 4: earlier v2
 * drafts) is refused
 * rather than read, since reading it would silently drop its approvals and, worse, its revocations.
 */
const STATE_VERSION = 5;

interface HostState {
  version: number;
  kvs: KvsState;
  bitbucket: BitbucketState;
}

/** Loads the saved world into the fakes; false when there is none yet (a first start). */
export function loadState(host: ForgeHost, path: string): boolean {
  if (!existsSync(path)) return false;
  const state = JSON.parse(readFileSync(path, 'utf8')) as HostState;
  if (state.version !== STATE_VERSION) {
    throw new Error(
      `${path} was written by version ${state.version} of the local host, whose storage layout this version does not read (its revocations would be lost); move the file away or delete it to start afresh from the demo workspace.`,
    );
  }
  host.kvs.importState(state.kvs);
  host.bitbucket.importState(state.bitbucket);
  return true;
}

/** Writes through a temporary file and a rename, so a crash never leaves half a state behind. */
export function saveState(host: ForgeHost, path: string): void {
  const state: HostState = { version: STATE_VERSION, kvs: host.kvs.exportState(), bitbucket: host.bitbucket.exportState() };
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(`${path}.tmp`, JSON.stringify(state));
  renameSync(`${path}.tmp`, path);
}
