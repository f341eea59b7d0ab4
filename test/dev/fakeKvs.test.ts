import { kvs } from '@forge/kvs';
import { ForgeHost } from '../../dev/forgeHost';

/** The fake must refuse what the real KVS refuses, or limit bugs would only show in production. */
describe('the KVS fake, through the real @forge/kvs client', () => {
  let now = 0;
  const host = ForgeHost.create({ doc: { version: 'integer', document: 'any' } }, () => now);
  beforeAll(() => host.install());
  afterAll(() => host.uninstall());

  it('refuses keys outside the documented charset or over 500 characters', async () => {
    await expect(kvs.set('policy:{braces}', 1)).rejects.toMatchObject({ code: 'INVALID_KEY' });
    await expect(kvs.set('x'.repeat(501), 1)).rejects.toMatchObject({ code: 'KEY_TOO_LONG' });
    await expect(kvs.set('ok:key_with-#chars.1', 1)).resolves.toBeUndefined();
  });

  it('refuses values over 240 KiB', async () => {
    await expect(kvs.set('big', 'x'.repeat(240 * 1024))).rejects.toMatchObject({ code: 'MAX_SIZE' });
  });

  it('pages queries at 20 at most', async () => {
    await Promise.all(Array.from({ length: 25 }, (_, i) => kvs.set(`page:${String(i).padStart(2, '0')}`, i)));
    await expect(kvs.query().where('key', { condition: 'BEGINS_WITH', values: ['page:'] }).limit(21).getMany()).rejects.toMatchObject({ code: 'INVALID_LIMIT' });
    const first = await kvs.query().where('key', { condition: 'BEGINS_WITH', values: ['page:'] }).limit(20).getMany();
    expect(first.results).toHaveLength(20);
    const rest = await kvs.query().where('key', { condition: 'BEGINS_WITH', values: ['page:'] }).limit(20).cursor(first.nextCursor!).getMany();
    expect(rest.results.map((r) => r.value)).toEqual([20, 21, 22, 23, 24]);
  });

  it('expires values after their TTL', async () => {
    await kvs.set('short', 'lived', { ttl: { value: 10, unit: 'SECONDS' } });
    expect(await kvs.get('short')).toBe('lived');
    now += 10_001;
    expect(await kvs.get('short')).toBeUndefined();
  });

  it('refuses FAIL_IF_EXISTS on an existing key with 409 KEY_CONFLICT', async () => {
    await kvs.set('once', 1, { keyPolicy: 'FAIL_IF_EXISTS' });
    await expect(kvs.set('once', 2, { keyPolicy: 'FAIL_IF_EXISTS' })).rejects.toMatchObject({ code: 'KEY_CONFLICT', responseDetails: { status: 409 } });
  });

  it('refuses undeclared entities and attributes of the wrong type', async () => {
    await expect(kvs.entity('undeclared').set('k', { version: 1 })).rejects.toMatchObject({ code: 'ENTITY_NOT_FOUND' });
    await expect(kvs.entity('doc').set('k', { version: 'one' })).rejects.toMatchObject({ code: 'INVALID_ATTRIBUTE' });
  });
});
