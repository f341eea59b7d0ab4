/**
 * An in-memory Forge KVS that answers the same HTTP API the real `@forge/kvs` client calls
 * (`/api/v1/get`, `/set`, `/query`, `/batch/get`, `/entity/*`, `/transaction`, …) and enforces the
 * documented limits: key charset and length, 240 KiB values, object depth 32, query pages of at
 * most 20, TTL expiry, `FAIL_IF_EXISTS` (409 KEY_CONFLICT), `returnValue: PREVIOUS`, entity names
 * and attribute types declared in the manifest, Custom Entity Store queries on the indexes declared
 * there (partition, range condition, filters, sort, pages of 1 to 100 with a cursor), and
 * all-or-nothing transactions with conditions, of at most 25 operations on distinct keys and 4MB.
 * Every request is applied atomically, as one request is on the real service.
 */
export const KVS_LIMITS = {
  keyLength: 500,
  valueBytes: 240 * 1024,
  depth: 32,
  queryPage: 20,
  /** Custom Entity Store queries: "The page limit must be set between 1 and 100" (COMPLEX_QUERY_PAGE_LIMIT_NOT_IN_RANGE). */
  entityQueryPage: 100,
  /** Transactions: "Each transaction can contain a maximum of 25 operations", "Each key can only be used once", a payload of at most 4MB. */
  transactionOps: 25,
  transactionBytes: 4 * 1024 * 1024,
} as const;

const KEY_PATTERN = /^(?!\s+$)[a-zA-Z0-9:._\s\-#]+$/;

type AttributeType = 'string' | 'boolean' | 'float' | 'integer' | 'any';
export type EntitySchemas = Record<string, Record<string, AttributeType>>;
/** An entity's custom indexes, as the manifest declares them: a name, the partition attributes (maybe none) and the one range attribute. */
export interface EntityIndex {
  name: string;
  partition: string[];
  range: string;
}
export type EntityIndexes = Record<string, EntityIndex[]>;

interface Item {
  value: unknown;
  createdAt: number;
  updatedAt: number;
  expiresAt?: number;
}

interface Condition {
  property: string;
  condition: string;
  values: unknown[];
}

export interface KvsState {
  plain: [string, Item][];
  secret: [string, Item][];
  entities: [string, [string, Item][]][];
}

export class KvsHttpError {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly message: string,
  ) {}
}

export class FakeKvs {
  private readonly plain = new Map<string, Item>();
  private readonly secret = new Map<string, Item>();
  private readonly entities = new Map<string, Map<string, Item>>();

  /** Bumped by every write: a query's sorted partition is reused until storage changes (the bench queries 100,000 records). */
  private writes = 0;
  private sorted = new Map<string, { writes: number; rows: { key: string; item: Item; range: string | number }[] }>();

  constructor(
    private readonly schemas: EntitySchemas,
    private readonly now: () => number = Date.now,
    private readonly indexes: EntityIndexes = {},
  ) {}

  /** Handles one API request; returns the JSON body (or undefined for an empty 200/204). */
  handle(path: string, body: any): unknown {
    switch (path) {
      case '/api/v1/get':
        return this.get(this.plain, body);
      case '/api/v1/set':
        return this.set(this.plain, body.key, body.value, body.options);
      case '/api/v1/delete':
        return this.remove(this.plain, body.key);
      case '/api/v1/query':
        return this.query(body);
      case '/api/v1/secret/get':
        return this.get(this.secret, body);
      case '/api/v1/secret/set':
        return this.set(this.secret, body.key, body.value, body.options);
      case '/api/v1/secret/delete':
        return this.remove(this.secret, body.key);
      case '/api/v1/entity/get':
        return this.get(this.entity(body.entityName), body);
      case '/api/v1/entity/set':
        this.verifyAttributes(body.entityName, body.value);
        return this.set(this.entity(body.entityName), body.key, body.value, body.options);
      case '/api/v1/entity/delete':
        return this.remove(this.entity(body.entityName), body.key);
      case '/api/v1/entity/query':
        return this.queryEntity(body);
      case '/api/v1/batch/get':
        return this.batchGet(body);
      case '/api/v1/batch/set':
        return this.batchSet(body);
      case '/api/v1/transaction':
        return this.transact(body);
      default:
        throw new KvsHttpError(404, 'NOT_FOUND', `No such KVS endpoint ${path}`);
    }
  }

  /** Everything stored, for tests that assert "storage unchanged". */
  snapshot(): string {
    const dump = (map: Map<string, Item>) => [...map].filter(([, i]) => this.live(i)).map(([k, i]) => [k, i.value]);
    return JSON.stringify({
      plain: dump(this.plain),
      secret: dump(this.secret),
      entities: [...this.entities].map(([name, map]) => [name, dump(map)]),
    });
  }

  /** Everything stored, with timestamps and expiry, in a form `JSON.stringify` keeps (the local host persists it). */
  exportState(): KvsState {
    return {
      plain: [...this.plain],
      secret: [...this.secret],
      entities: [...this.entities].map(([name, map]) => [name, [...map]]),
    };
  }

  importState(state: KvsState): void {
    this.writes++;
    const fill = (map: Map<string, Item>, items: [string, Item][]) => {
      map.clear();
      for (const [key, item] of items) map.set(key, item);
    };
    fill(this.plain, state.plain);
    fill(this.secret, state.secret);
    this.entities.clear();
    for (const [name, items] of state.entities) fill(this.entity(name), items);
  }

  /** Direct write that bypasses the API, for tests that tamper with storage. */
  tamper(key: string, mutate: (value: any) => unknown, entityName?: string): void {
    const map = entityName ? this.entity(entityName) : this.plain;
    const item = map.get(key);
    if (!item) throw new Error(`tamper: no value at ${key}`);
    this.writes++;
    item.value = mutate(structuredClone(item.value));
  }

  /** Transactions still to refuse with a 500, as the service does when it fails: for tests of failed writes. */
  failTransactions = 0;

  /** Direct write of a new value that bypasses the API, for tests that forge records. */
  plant(key: string, value: unknown, entityName?: string): void {
    const now = this.now();
    this.writes++;
    (entityName ? this.entity(entityName) : this.plain).set(key, { value: structuredClone(value), createdAt: now, updatedAt: now });
  }

  /** Direct read that bypasses the API, for tests that measure what is stored. */
  peek(key: string, entityName?: string): unknown {
    return (entityName ? this.entity(entityName) : this.plain).get(key)?.value;
  }

  /** Direct delete that bypasses the API, for tests of lost records. */
  drop(key: string, entityName?: string): void {
    if (!(entityName ? this.entity(entityName) : this.plain).delete(key)) throw new Error(`drop: no value at ${key}`);
    this.writes++;
  }

  private entity(name: string): Map<string, Item> {
    if (!this.schemas[name]) throw new KvsHttpError(400, 'ENTITY_NOT_FOUND', `Entity ${name} is not declared in the manifest`);
    let map = this.entities.get(name);
    if (!map) this.entities.set(name, (map = new Map()));
    return map;
  }

  private live(item: Item | undefined): item is Item {
    return item !== undefined && (item.expiresAt === undefined || item.expiresAt > this.now());
  }

  private verifyKey(key: unknown): string {
    if (typeof key !== 'string' || key.length < 1) throw new KvsHttpError(400, 'KEY_TOO_SHORT', 'Key is empty');
    if (key.length > KVS_LIMITS.keyLength) throw new KvsHttpError(400, 'KEY_TOO_LONG', 'Key exceeds 500 characters');
    if (!KEY_PATTERN.test(key)) throw new KvsHttpError(400, 'INVALID_KEY', `Key ${key} has characters outside [a-zA-Z0-9:._\\s-#]`);
    return key;
  }

  private verifyValue(value: unknown): void {
    if (value === undefined) throw new KvsHttpError(400, 'INVALID_VALUE', 'Value is missing');
    const bytes = Buffer.byteLength(JSON.stringify(value), 'utf8');
    if (bytes > KVS_LIMITS.valueBytes) throw new KvsHttpError(400, 'MAX_SIZE', `Value of ${bytes} bytes exceeds 240 KiB`);
    if (depth(value) > KVS_LIMITS.depth) throw new KvsHttpError(400, 'MAX_DEPTH', 'Value exceeds object depth 32');
  }

  private verifyAttributes(entityName: string, value: any): void {
    const schema = this.schemas[entityName];
    if (!schema) throw new KvsHttpError(400, 'ENTITY_NOT_FOUND', `Entity ${entityName} is not declared`);
    for (const [name, attribute] of Object.entries(value ?? {})) {
      const type = schema[name];
      if (!type) throw new KvsHttpError(400, 'INVALID_ATTRIBUTE', `Attribute ${name} is not declared on ${entityName}`);
      const ok =
        type === 'any' ||
        (type === 'string' && typeof attribute === 'string') ||
        (type === 'boolean' && typeof attribute === 'boolean') ||
        (type === 'integer' && Number.isInteger(attribute)) ||
        (type === 'float' && typeof attribute === 'number');
      if (!ok) throw new KvsHttpError(400, 'INVALID_ATTRIBUTE', `Attribute ${name} must be ${type}`);
    }
  }

  private get(map: Map<string, Item>, body: any) {
    const key = this.verifyKey(body.key);
    const item = map.get(key);
    if (!this.live(item)) throw new KvsHttpError(404, 'KEY_NOT_FOUND', 'Key not found');
    return { key, value: item.value, createdAt: item.createdAt, updatedAt: item.updatedAt };
  }

  private set(map: Map<string, Item>, rawKey: unknown, value: unknown, options: any = {}) {
    const key = this.verifyKey(rawKey);
    this.verifyValue(value);
    const previous = map.get(key);
    const existed = this.live(previous);
    if (options.keyPolicy === 'FAIL_IF_EXISTS' && existed) {
      throw new KvsHttpError(409, 'KEY_CONFLICT', 'Key already exists');
    }
    const now = this.now();
    this.writes++;
    map.set(key, {
      value: structuredClone(value),
      createdAt: existed ? previous.createdAt : now,
      updatedAt: now,
      expiresAt: options.ttl ? now + ttlMs(options.ttl) : undefined,
    });
    if (options.returnValue === 'PREVIOUS') return existed ? { key, value: previous.value } : undefined;
    if (options.returnValue === 'LATEST') return { key, value };
    return undefined;
  }

  private remove(map: Map<string, Item>, rawKey: unknown) {
    const key = this.verifyKey(rawKey);
    if (!this.live(map.get(key))) throw new KvsHttpError(404, 'KEY_NOT_FOUND', 'Key not found');
    this.writes++;
    map.delete(key);
    return undefined;
  }

  private query(body: any) {
    const limit = body.limit ?? 10;
    if (!Number.isInteger(limit) || limit < 1 || limit > KVS_LIMITS.queryPage) {
      throw new KvsHttpError(400, 'INVALID_LIMIT', `limit must be 1 to ${KVS_LIMITS.queryPage}`);
    }
    const where: Condition[] = body.where ?? [];
    if (where.length > 1 || where.some((w) => w.condition !== 'BEGINS_WITH' || w.property !== 'key')) {
      throw new KvsHttpError(400, 'INVALID_QUERY', 'Only one BEGINS_WITH condition on key is supported');
    }
    const prefix = String(where[0]?.values[0] ?? '');
    const after = body.after ? Buffer.from(body.after, 'base64url').toString('utf8') : undefined;
    const keys = [...this.plain.keys()]
      .filter((k) => k.startsWith(prefix) && (after === undefined || k > after) && this.live(this.plain.get(k)))
      .sort();
    const page = keys.slice(0, limit);
    const data = page.map((key) => ({ key, value: this.plain.get(key)!.value }));
    const cursor = keys.length > limit ? Buffer.from(page[page.length - 1]!, 'utf8').toString('base64url') : undefined;
    return { data, ...(cursor ? { cursor } : {}) };
  }

  /**
   * A Custom Entity Store query on one declared index: the partition's items that have the index's
   * attributes, the range condition on its range attribute, filters, sorted by the range attribute
   * (ASC by default), a page of 1 to 100 with an opaque cursor. The real query is eventually
   * consistent; this one sees every write at once.
   */
  private queryEntity(body: any) {
    const map = this.entity(body.entityName);
    const index = body.indexName === 'by-key' ? { name: 'by-key', partition: [], range: 'key' } : this.indexes[body.entityName]?.find((i) => i.name === body.indexName);
    if (!index) throw new KvsHttpError(400, 'INDEX_NOT_FOUND', `Index ${body.indexName} is not declared on ${body.entityName}`);
    const limit = body.limit ?? 10;
    if (!Number.isInteger(limit) || limit < 1 || limit > KVS_LIMITS.entityQueryPage) {
      throw new KvsHttpError(400, 'COMPLEX_QUERY_PAGE_LIMIT_NOT_IN_RANGE', `The page limit must be set between 1 and ${KVS_LIMITS.entityQueryPage}.`);
    }
    const partition: unknown[] = body.partition ?? [];
    if (partition.length !== index.partition.length) {
      throw new KvsHttpError(400, 'INVALID_PARTITION', `Index ${index.name} is partitioned by ${index.partition.length} attribute(s); the query gave ${partition.length}`);
    }
    if (body.sort !== undefined && body.sort !== 'ASC' && body.sort !== 'DESC') throw new KvsHttpError(400, 'INVALID_SORT', 'sort must be ASC or DESC');
    const rangeOf = (key: string, value: any) => (index.range === 'key' ? key : value?.[index.range]);
    // The partition's items that have the index's attributes, in index order (kept until the next write).
    const cacheKey = JSON.stringify([body.entityName, index.name, partition]);
    let cached = this.sorted.get(cacheKey);
    if (cached?.writes !== this.writes) {
      const inPartition = [...map]
        .filter(([key, item]) => {
          const value = item.value as any;
          return !index.partition.some((attribute, i) => value?.[attribute] === undefined || value[attribute] !== partition[i]) && rangeOf(key, value) !== undefined;
        })
        .map(([key, item]) => ({ key, item, range: rangeOf(key, item.value) as string | number }))
        .sort((a, b) => compare(a.range, b.range) || compare(a.key, b.key));
      this.sorted.set(cacheKey, (cached = { writes: this.writes, rows: inPartition }));
    }
    const rows = cached.rows
      .filter(({ item, range }) => {
        if (!this.live(item)) return false;
        const value = item.value as any;
        if (body.range && !matchesCondition(range, body.range)) return false;
        if (body.filters) {
          const clauses: Condition[] = body.filters.and ?? body.filters.or ?? [];
          const test = (c: Condition) => matchesCondition(value?.[c.property], c);
          if (body.filters.and ? !clauses.every(test) : !clauses.some(test)) return false;
        }
        return true;
      })
      .map(({ key, item, range }) => ({ key, value: item.value, range }));
    if (body.sort === 'DESC') rows.reverse();
    let start = 0;
    if (body.cursor) {
      const [range, key] = JSON.parse(Buffer.from(body.cursor, 'base64url').toString('utf8')) as [string | number, string];
      const after = (row: { range: string | number; key: string }) => {
        const c = compare(row.range, range) || compare(row.key, key);
        return body.sort === 'DESC' ? c < 0 : c > 0;
      };
      start = rows.findIndex(after);
      if (start < 0) start = rows.length;
    }
    const page = rows.slice(start, start + limit);
    const last = page.at(-1);
    const cursor = start + limit < rows.length && last ? Buffer.from(JSON.stringify([last.range, last.key]), 'utf8').toString('base64url') : undefined;
    return { data: page.map(({ key, value }) => ({ key, value })), ...(cursor ? { cursor } : {}) };
  }

  private batchGet(items: any[]) {
    if (!Array.isArray(items) || items.length === 0) throw new KvsHttpError(400, 'INVALID_REQUEST', 'Batch is empty');
    const successfulKeys: unknown[] = [];
    const failedKeys: unknown[] = [];
    for (const { key, entityName } of items) {
      const map = entityName ? this.entity(entityName) : this.plain;
      const item = map.get(this.verifyKey(key));
      if (this.live(item)) successfulKeys.push({ key, ...(entityName ? { entityName } : {}), value: item.value });
      else failedKeys.push({ key, ...(entityName ? { entityName } : {}), error: { code: 'KEY_NOT_FOUND', message: 'Key not found' } });
    }
    return { successfulKeys, failedKeys };
  }

  private batchSet(items: any[]) {
    if (!Array.isArray(items) || items.length === 0) throw new KvsHttpError(400, 'INVALID_REQUEST', 'Batch is empty');
    const keys = items.map((i) => `${i.entityName ?? ''}/${i.key}`);
    if (new Set(keys).size !== keys.length) throw new KvsHttpError(400, 'INVALID_REQUEST', 'Batch sets one key twice');
    const successfulKeys: unknown[] = [];
    const failedKeys: unknown[] = [];
    for (const { key, value, entityName, options } of items) {
      try {
        if (entityName) this.verifyAttributes(entityName, value);
        this.set(entityName ? this.entity(entityName) : this.plain, key, value, options);
        successfulKeys.push({ key, ...(entityName ? { entityName } : {}) });
      } catch (error) {
        if (!(error instanceof KvsHttpError)) throw error;
        failedKeys.push({ key, error: { code: error.code, message: error.message } });
      }
    }
    return { successfulKeys, failedKeys };
  }

  private transact(body: any) {
    if (this.failTransactions > 0) {
      this.failTransactions--;
      throw new KvsHttpError(500, 'INTERNAL_SERVER_ERROR', 'The transaction could not be completed');
    }
    const sets: any[] = body.set ?? [];
    const deletes: any[] = body.delete ?? [];
    const checks: any[] = body.check ?? [];
    const all = [...sets, ...deletes, ...checks];
    if (all.length === 0) throw new KvsHttpError(400, 'INVALID_TRANSACTION_REQUEST', 'Transaction request must include one of set, check or delete.');
    if (all.length > KVS_LIMITS.transactionOps) {
      throw new KvsHttpError(400, 'INVALID_TRANSACTION_REQUEST', `A transaction can contain at most ${KVS_LIMITS.transactionOps} operations; this one has ${all.length}.`);
    }
    const keys = all.map((op) => op.key);
    if (new Set(keys).size !== keys.length) throw new KvsHttpError(400, 'INVALID_TRANSACTION_REQUEST', 'Each key can only be used once in a transaction.');
    const bytes = Buffer.byteLength(JSON.stringify(body), 'utf8');
    if (bytes > KVS_LIMITS.transactionBytes) throw new KvsHttpError(400, 'INVALID_TRANSACTION_REQUEST', `A transaction's payload is limited to 4MB; this one is ${bytes} bytes.`);
    for (const op of all) {
      const map = op.entityName ? this.entity(op.entityName) : this.plain;
      const current = map.get(this.verifyKey(op.key));
      if (op.conditions && !this.satisfies(this.live(current) ? current.value : undefined, op.conditions)) {
        throw new KvsHttpError(409, 'CONDITION_CHECK_FAILED', `Transaction condition failed on ${op.key}`);
      }
    }
    for (const op of sets) {
      if (op.entityName) this.verifyAttributes(op.entityName, op.value);
      this.verifyValue(op.value);
    }
    for (const op of sets) this.set(op.entityName ? this.entity(op.entityName) : this.plain, op.key, op.value, op.options);
    for (const op of deletes) (op.entityName ? this.entity(op.entityName) : this.plain).delete(op.key);
    this.writes++;
    return undefined;
  }

  private satisfies(value: any, conditions: { and?: Condition[]; or?: Condition[] }): boolean {
    const test = (c: Condition) => {
      if (!TRANSACTION_CONDITIONS.has(c.condition)) throw new KvsHttpError(400, 'INVALID_CONDITION', `Condition ${c.condition} is not supported by this fake`);
      return matchesCondition(value?.[c.property], c);
    };
    if (conditions.and) return conditions.and.every(test);
    if (conditions.or) return conditions.or.some(test);
    return true;
  }
}

/** The conditions a conditional write may carry here (a query's filters may use more). */
const TRANSACTION_CONDITIONS = new Set(['EXISTS', 'NOT_EXISTS', 'EQUAL_TO', 'NOT_EQUAL_TO', 'GREATER_THAN']);

/** Whether `attribute` meets a query condition (a range condition or a filter). */
function matchesCondition(attribute: any, c: { condition: string; values: unknown[] }): boolean {
  const [a, b] = c.values as [any, any];
  switch (c.condition) {
    case 'EXISTS':
      return attribute !== undefined;
    case 'NOT_EXISTS':
      return attribute === undefined;
    case 'EQUAL_TO':
      return attribute === a;
    case 'NOT_EQUAL_TO':
      return attribute !== a;
    case 'BEGINS_WITH':
      return typeof attribute === 'string' && attribute.startsWith(String(a));
    case 'CONTAINS':
      return typeof attribute === 'string' ? attribute.includes(String(a)) : Array.isArray(attribute) && attribute.includes(a);
    case 'NOT_CONTAINS':
      return !(typeof attribute === 'string' ? attribute.includes(String(a)) : Array.isArray(attribute) && attribute.includes(a));
    case 'BETWEEN':
      return comparable(attribute, a) && compare(attribute, a) >= 0 && compare(attribute, b) <= 0;
    case 'GREATER_THAN':
      return comparable(attribute, a) && compare(attribute, a) > 0;
    case 'GREATER_THAN_EQUAL_TO':
      return comparable(attribute, a) && compare(attribute, a) >= 0;
    case 'LESS_THAN':
      return comparable(attribute, a) && compare(attribute, a) < 0;
    case 'LESS_THAN_EQUAL_TO':
      return comparable(attribute, a) && compare(attribute, a) <= 0;
    default:
      throw new KvsHttpError(400, 'INVALID_CONDITION', `Condition ${c.condition} is not supported`);
  }
}

const comparable = (x: unknown, y: unknown) => (typeof x === 'string' || typeof x === 'number') && typeof x === typeof y;

/** Strings by code unit (as keys sort), numbers by value. */
function compare(x: string | number, y: string | number): number {
  return x < y ? -1 : x > y ? 1 : 0;
}

function ttlMs(ttl: { value: number; unit: string }): number {
  const unit = { SECONDS: 1_000, MINUTES: 60_000, HOURS: 3_600_000, DAYS: 86_400_000 }[ttl.unit];
  if (!unit || !Number.isFinite(ttl.value) || ttl.value <= 0) throw new KvsHttpError(400, 'INVALID_TTL', 'Invalid TTL');
  return ttl.value * unit;
}

function depth(value: unknown): number {
  if (value === null || typeof value !== 'object') return 0;
  const children = Object.values(value as object);
  return 1 + (children.length ? Math.max(...children.map(depth)) : 0);
}
