import { bareUuid } from '../src/core';
import { handler } from '../src/index';
import { ForgeHost } from '../dev/forgeHost';
import { manifestEntities } from '../dev/manifestEntities';
import { DEMO } from './demo';
import { loadState } from './state';

/** What the demo repository's admin gets from the real `exportEvidence` resolver: the bundle's lines, and the app key to pin. */
export interface DemoEvidence {
  lines: string[];
  appKeyId: string;
  pages: number;
}

/**
 * The evidence bundle of the demo repository (acme/payments), exported from the local host's state on
 * disk (the file `npm start` keeps) through the real resolver (`src/index.ts` `handler`, as Forge calls
 * it) as the demo's admin, Morgan Admin, page by page with `nextCursor`. Nothing is written back: the
 * fakes are loaded from the file and dropped after.
 */
export async function exportDemoEvidence(statePath: string): Promise<DemoEvidence> {
  const forge = ForgeHost.create(manifestEntities());
  if (!loadState(forge, statePath)) {
    throw new Error(`There is no local host state at ${statePath}: run "npm start", try the demo (a policy, signatures, a merge), then export again (or set COUNTERSIGN_STATE to the state file).`);
  }
  const accountId = DEMO.people.admin.accountId;
  const context = {
    accountId,
    workspaceId: DEMO.workspace.uuid,
    moduleKey: 'countersign-audit',
    extension: { type: 'bitbucket:repoMainMenuPage', repository: { uuid: DEMO.repository.uuid } },
  };
  const call = async (functionKey: string, payload: unknown) => {
    const result = (await forge.actAs(accountId, () =>
      handler({ call: { functionKey, payload }, context } as never, { principal: { accountId }, installContext: `ari:cloud:bitbucket::workspace/${bareUuid(DEMO.workspace.uuid)}` } as never),
    )) as { ok: true; data: any } | { ok: false; code: string; message: string };
    if (!result.ok) throw new Error(`${functionKey} refused: ${result.code} ${result.message}`);
    return result.data;
  };
  forge.install();
  try {
    let content = '';
    let pages = 0;
    let cursor: string | undefined;
    do {
      const page = await call('exportEvidence', { format: 'bundle', ...(cursor ? { cursor } : {}) });
      content += page.content;
      cursor = page.nextCursor;
      pages++;
    } while (cursor);
    const { keyId } = await call('getLedgerKey', {});
    return { lines: content.split('\n').filter(Boolean), appKeyId: keyId, pages };
  } finally {
    forge.uninstall();
  }
}
