import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parse } from 'yaml';
import type { EntityIndexes, EntitySchemas } from './fakeKvs';

/** The custom entities declared in manifest.yml, so the KVS fake accepts exactly what the platform would. */
export function manifestEntities(): EntitySchemas {
  const manifest = parse(readFileSync(findManifest(__dirname), 'utf8'));
  const entities: { name: string; attributes: Record<string, { type: string }> }[] = manifest.app.storage.entities;
  return Object.fromEntries(
    entities.map((e) => [e.name, Object.fromEntries(Object.entries(e.attributes).map(([name, a]) => [name, a.type]))]),
  ) as EntitySchemas;
}

/** The custom indexes declared in manifest.yml, per entity (a bare name is an index of that name on that attribute). */
export function manifestIndexes(): EntityIndexes {
  const manifest = parse(readFileSync(findManifest(__dirname), 'utf8'));
  const entities: { name: string; indexes?: (string | { name: string; partition?: string[]; range: string[] })[] }[] = manifest.app.storage.entities;
  return Object.fromEntries(
    entities.map((e) => [
      e.name,
      (e.indexes ?? []).map((i) => (typeof i === 'string' ? { name: i, partition: [], range: i } : { name: i.name, partition: i.partition ?? [], range: i.range[0]! })),
    ]),
  );
}

/** The nearest manifest.yml above `dir` (this file also runs bundled, from another folder). */
function findManifest(dir: string): string {
  for (let current = dir; ; current = dirname(current)) {
    const candidate = join(current, 'manifest.yml');
    if (existsSync(candidate)) return candidate;
    if (dirname(current) === current) throw new Error(`No manifest.yml above ${dir}`);
  }
}
