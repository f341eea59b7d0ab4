import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parse } from 'yaml';
import type { EntitySchemas } from './fakeKvs';

/** The custom entities declared in manifest.yml, so the KVS fake accepts exactly what the platform would. */
export function manifestEntities(): EntitySchemas {
  const manifest = parse(readFileSync(findManifest(__dirname), 'utf8'));
  const entities: { name: string; attributes: Record<string, { type: string }> }[] = manifest.app.storage.entities;
  return Object.fromEntries(
    entities.map((e) => [e.name, Object.fromEntries(Object.entries(e.attributes).map(([name, a]) => [name, a.type]))]),
  ) as EntitySchemas;
}

/** The nearest manifest.yml above `dir` (this file also runs bundled, from another folder). */
function findManifest(dir: string): string {
  for (let current = dir; ; current = dirname(current)) {
    const candidate = join(current, 'manifest.yml');
    if (existsSync(candidate)) return candidate;
    if (dirname(current) === current) throw new Error(`No manifest.yml above ${dir}`);
  }
}
