import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ForgeHost } from '../../dev/forgeHost';
import { manifestEntities } from '../../dev/manifestEntities';
import { loadState } from '../../host/state';

describe("the local host's state file", () => {
  it('refuses a file in the v1 layout with a sentence saying what to do, rather than dropping its revocations', () => {
    const dir = mkdtempSync(join(tmpdir(), 'countersign-state-'));
    try {
      const path = join(dir, 'state.json');
      writeFileSync(path, JSON.stringify({ version: 1, kvs: { plain: [], secret: [], entities: [['versioned-document', [['revocations', { value: { version: 1, document: [] } }]]]] }, bitbucket: {} }));
      expect(() => loadState(ForgeHost.create(manifestEntities()), path)).toThrow(/written by version 1 .*move the file away or delete it/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
