import { kvs, Sort, WhereConditions } from '@forge/kvs';
import { ForgeHost } from '../../dev/forgeHost';

/** The fake must refuse what the real KVS refuses, or limit bugs would only show in production. */
describe('the KVS fake, through the real @forge/kvs client', () => {
  let now = 0;
  const host = ForgeHost.create({ doc: { version: 'integer', document: 'any' }, row: { part: 'string', rank: 'integer' } }, () => now, {
    row: [{ name: 'by-part', partition: ['part'], range: 'rank' }],
  });
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

  it('refuses a transaction of more than 25 operations, one using a key twice, or one over 4MB', async () => {
    const sets = (n: number) => Array.from({ length: n }, (_, i) => i).reduce((tx, i) => tx.set(`tx:${i}`, i), kvs.transact());
    await expect(sets(26).execute()).rejects.toMatchObject({ code: 'INVALID_TRANSACTION_REQUEST', responseDetails: { status: 400 } });
    expect(await kvs.get('tx:0')).toBeUndefined();
    await expect(sets(25).execute()).resolves.toBeUndefined();
    await expect(kvs.transact().set('twice', 1).delete('twice').execute()).rejects.toMatchObject({ code: 'INVALID_TRANSACTION_REQUEST' });
    const big = Array.from({ length: 18 }, (_, i) => i).reduce((tx, i) => tx.set(`big:${i}`, 'x'.repeat(230 * 1024)), kvs.transact());
    await expect(big.execute()).rejects.toMatchObject({ code: 'INVALID_TRANSACTION_REQUEST' });
  });

  it('queries a declared entity index: one partition, a range condition, sorted either way, pages of 1 to 100 with a cursor', async () => {
    await Promise.all(Array.from({ length: 30 }, (_, i) => kvs.entity('row').set(`row:${i}`, { part: i % 2 ? 'odd' : 'even', rank: i })));
    const rows = () => kvs.entity<{ part: string; rank: number }>('row').query().index('by-part', { partition: ['even'] });
    const first = await rows().where(WhereConditions.between(4, 20)).sort(Sort.DESC).limit(3).getMany();
    expect(first.results.map((r) => r.value.rank)).toEqual([20, 18, 16]);
    const rest = await rows().where(WhereConditions.between(4, 20)).sort(Sort.DESC).limit(100).cursor(first.nextCursor!).getMany();
    expect(rest.results.map((r) => r.value.rank)).toEqual([14, 12, 10, 8, 6, 4]);
    expect(rest.nextCursor).toBeUndefined();
    expect((await rows().where(WhereConditions.lessThan(5)).getMany()).results.map((r) => r.value.rank)).toEqual([0, 2, 4]);
    await expect(rows().limit(101).getMany()).rejects.toMatchObject({ code: 'COMPLEX_QUERY_PAGE_LIMIT_NOT_IN_RANGE' });
    await expect(kvs.entity('row').query().index('by-rank').getMany()).rejects.toMatchObject({ code: 'INDEX_NOT_FOUND' });
  });
});
