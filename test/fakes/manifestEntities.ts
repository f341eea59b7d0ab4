import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import type { EntitySchemas } from './fakeKvs';

/** The custom entities declared in manifest.yml, so the KVS fake accepts exactly what the platform would. */
export function manifestEntities(): EntitySchemas {
  const manifest = parse(readFileSync(join(__dirname, '../../manifest.yml'), 'utf8'));
  const entities: { name: string; attributes: Record<string, { type: string }> }[] = manifest.app.storage.entities;
  return Object.fromEntries(
    entities.map((e) => [e.name, Object.fromEntries(Object.entries(e.attributes).map(([name, a]) => [name, a.type]))]),
  ) as EntitySchemas;
}
