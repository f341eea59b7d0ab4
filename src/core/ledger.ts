import * as z from 'zod/mini';
import { type AppPublicJwk, type AppSigningKey, signWithAppKey, verifyAppSignature } from './appKey';
import { canonicalBytes, isCanonicalJson, sha256Hex, webCryptoSuite, type CryptoSuite } from './crypto';
import { decodeCanonicalBase64, encodeBase64, pae, payloadBytes, type Envelope } from './dsse';
import { EnvelopeSchema, EnvelopeShape } from './dsseVerify';
import { RequestError } from './errors';
import { UtcTimestamp } from './formats';

/**
 * The per-repository audit ledger: an append-only, hash-chained list of events, each entry a DSSE
 * envelope countersigned by the app's key (ECDSA P-256; Ed25519 for keys made before). Everything an
 * auditor needs to check it offline is standard: JCS (RFC 8785) JSON, SHA-256, DSSE v1 PAE and ECDSA or Ed25519 (test/core/ledger.test.ts
 * checks a ledger with nothing but Node's `crypto.verify`, `createHash` and `JSON.parse`).
 */
export const LEDGER_PAYLOAD_TYPE = 'application/vnd.countersign.ledger-entry+json';

/** The `prev` of entry 1: there is nothing before it. */
export const GENESIS_PREV = '0'.repeat(64);

const Sha256Hex = z.string().check(z.regex(/^[0-9a-f]{64}$/, 'must be a lower-case hex SHA-256'));

/**
 * Events are validated by their producers; the ledger only insists that each says what it is and is
 * plain JSON (no NaN, undefined or Dates, which would read back as something other than was written).
 */
export const LedgerEvent = z.catchall(z.object({ type: z.string().check(z.minLength(1), z.maxLength(200)) }), z.json());
export type LedgerEvent = z.infer<typeof LedgerEvent>;

/** The signed payload, carried as its JCS bytes. */
export const LedgerEntry = z.strictObject({
  ledger: z.string().check(z.minLength(1), z.maxLength(200)),
  seq: z.int().check(z.positive()),
  prev: Sha256Hex,
  at: UtcTimestamp,
  event: LedgerEvent,
});
export type LedgerEntry = z.infer<typeof LedgerEntry>;

/**
 * The same, for reading what `JSON.parse` produced: that is plain JSON by construction, so the event's
 * values are not walked again (on a large ledger that walk cost more than reading the entry).
 */
const ReadEntry = z.strictObject({ ...LedgerEntry.shape, event: z.looseObject({ type: LedgerEvent.shape.type }) });

/**
 * What is stored: the envelope, plus the SHA-256 of its payload bytes. The hash is redundant (an
 * auditor recomputes it) but lets storage index and chain entries without decoding them; verifyLedger
 * reports HASH_MISMATCH when it has drifted from the bytes.
 */
export interface SignedLedgerEntry {
  envelope: Envelope;
  hash: string;
}

export interface LedgerHead {
  seq: number;
  hash: string;
}

export type LedgerProblemCode =
  | 'BAD_SIGNATURE'
  | 'UNKNOWN_APP_KEY'
  | 'BROKEN_CHAIN'
  | 'BAD_SEQUENCE'
  | 'WRONG_LEDGER'
  | 'MALFORMED'
  | 'HASH_MISMATCH';

export interface LedgerProblem {
  /** The entry's own seq, when it could be read. */
  seq?: number;
  /** Position in the list given to verifyLedger. */
  index: number;
  code: LedgerProblemCode;
  message: string;
}

export interface LedgerCheck {
  ok: boolean;
  entries: number;
  /** The last entry, only when the whole ledger checked out. Compare it with a head known elsewhere: a truncated tail is otherwise a valid, shorter ledger. */
  head?: LedgerHead;
  problems: LedgerProblem[];
}

/**
 * Appends after `previous` (undefined for the first entry): builds the payload bytes once, signs
 * exactly those, and hashes exactly those. Throws on fields that would not read back as an entry.
 */
export async function nextEntry(
  previous: LedgerHead | undefined,
  fields: { ledger: string; at: string; event: LedgerEvent },
  appKey: AppSigningKey,
): Promise<SignedLedgerEntry> {
  const entry = buildEntry(previous, fields);
  const bytes = canonicalBytes(entry);
  // A writer that produced bytes its own reader refuses would poison the ledger; stop here instead.
  if (!parsePayload(bytes)) throw new RequestError('INTERNAL', 'The ledger entry does not read back as itself from its JCS bytes.');
  const sig = await signWithAppKey(appKey, pae(LEDGER_PAYLOAD_TYPE, bytes));
  const envelope = EnvelopeSchema.parse({
    payloadType: LEDGER_PAYLOAD_TYPE,
    payload: encodeBase64(bytes),
    signatures: [{ keyid: appKey.keyId, sig: encodeBase64(sig) }],
  });
  return { envelope, hash: await sha256Hex(bytes) };
}

function buildEntry(previous: LedgerHead | undefined, fields: { ledger: string; at: string; event: LedgerEvent }): LedgerEntry {
  if (previous && !Sha256Hex.safeParse(previous.hash).success) throw new RequestError('INTERNAL', 'The previous ledger hash is not a SHA-256.');
  const parsed = LedgerEntry.safeParse({
    ledger: fields.ledger,
    seq: previous ? previous.seq + 1 : 1,
    prev: previous ? previous.hash : GENESIS_PREV,
    at: fields.at,
    event: fields.event,
  });
  if (!parsed.success) throw new RequestError('INTERNAL', `The ledger entry is invalid: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

/** The entry an envelope carries, read from its exact payload bytes; undefined when it is not one. */
export function readEntry(signed: SignedLedgerEntry): LedgerEntry | undefined {
  const bytes = envelopePayload(signed);
  return bytes && parsePayload(bytes);
}

/**
 * Checks a whole ledger, first entry first. Every problem is listed (not just the first), each
 * against the entry it was found in; per entry, the checks run in this order: sequence, chain,
 * stored hash, signature, ledger id. Never throws.
 */
export async function verifyLedger(entries: readonly SignedLedgerEntry[], appKeys: ReadonlyMap<string, AppPublicJwk>, ledgerId: string): Promise<LedgerCheck> {
  const problems: LedgerProblem[] = [];
  const chain = new LedgerChain(appKeys, ledgerId);
  const list = Array.isArray(entries) ? entries : [];
  for (const [index, signed] of list.entries()) problems.push(...(await chain.check(signed, index)).problems);
  const ok = problems.length === 0 && Array.isArray(entries);
  const last = chain.last;
  return { ok, entries: list.length, ...(ok && last ? { head: last } : {}), problems };
}

/**
 * The same checks as `verifyLedger`, one entry at a time, for ledgers too large to hold (the evidence
 * verifier streams through it). It keeps the previous entry's hash and seq, and the hashes of the last
 * `remember` entries, to tell a repeated entry from a fork; further back, a seq out of place is reported
 * as out of place. `verifyLedger` remembers every entry.
 */
export class LedgerChain {
  private prevHash: string | undefined = GENESIS_PREV;
  private prevSeq = 0;
  private lastHead: LedgerHead | undefined;
  private readonly seen = new Map<number, string>();

  constructor(
    private readonly appKeys: ReadonlyMap<string, AppPublicJwk>,
    private readonly ledgerId: string,
    private readonly remember = Number.POSITIVE_INFINITY,
    private readonly suite: CryptoSuite = webCryptoSuite,
  ) {}

  /** The last entry checked, if it could be read; undefined before the first. */
  get last(): LedgerHead | undefined {
    return this.lastHead;
  }

  /** Checks the next entry (`index` is its position, from 0); never throws. */
  async check(signed: SignedLedgerEntry, index: number): Promise<LinkedEntry> {
    return this.link(await this.prepare(signed), index);
  }

  /** `prepareEntry` with this chain's app keys. */
  prepare(signed: SignedLedgerEntry): Promise<PreparedEntry> {
    return prepareEntry(signed, this.appKeys, this.suite);
  }

  /**
   * The sequential half of `check`, over an entry `prepareEntry` has read: several entries may be
   * prepared at once (their hashing and signature checks overlap), then linked one by one, in order.
   */
  link(prepared: PreparedEntry, index: number): LinkedEntry {
    const { entry, hash } = prepared;
    const problems: LedgerProblem[] = [];
    const report = (code: LedgerProblemCode, message: string) => problems.push({ ...(entry ? { seq: entry.seq } : {}), index, code, message });
    if (hash === undefined) {
      report('MALFORMED', `Entry ${index + 1} is not a one-signature ${LEDGER_PAYLOAD_TYPE} DSSE envelope in canonical base64.`);
    } else {
      const context = { prevHash: this.prevHash, prevSeq: this.prevSeq, seen: this.seen };
      if (entry) {
        checkSequence(entry, hash, context, report);
        checkChain(entry, context, report);
      } else {
        report('MALFORMED', `Entry ${index + 1}'s payload is not a ledger entry in JCS (RFC 8785) form.`);
      }
      if (!prepared.storedHashMatches) report('HASH_MISMATCH', `The stored hash of entry ${index + 1} is not the SHA-256 of its payload.`);
      if (prepared.signature) report(prepared.signature.code, prepared.signature.message);
      if (entry && entry.ledger !== this.ledgerId) report('WRONG_LEDGER', `Entry ${entry.seq} belongs to ledger ${JSON.stringify(entry.ledger)}, not ${JSON.stringify(this.ledgerId)}.`);
    }
    this.prevHash = hash;
    // An unreadable entry still takes a slot, so the next one is not also blamed for a gap.
    this.prevSeq = entry ? entry.seq : this.prevSeq + 1;
    this.lastHead = entry && hash ? { seq: entry.seq, hash } : undefined;
    while (this.seen.size > this.remember) {
      const oldest = this.seen.keys().next();
      if (oldest.done) break;
      this.seen.delete(oldest.value);
    }
    return { problems, ...(entry ? { entry } : {}), ...(hash !== undefined ? { hash } : {}) };
  }
}

export interface LinkedEntry {
  problems: LedgerProblem[];
  entry?: LedgerEntry;
  hash?: string;
}

/** What can be known of an entry on its own, before it is linked to the one before. */
export interface PreparedEntry {
  /** SHA-256 of the payload bytes; undefined when the envelope is not a readable ledger envelope. */
  hash?: string;
  entry?: LedgerEntry;
  storedHashMatches: boolean;
  signature?: { code: 'UNKNOWN_APP_KEY' | 'BAD_SIGNATURE'; message: string };
}

/** Reads, hashes and checks the signature of one entry, independently of any other; never throws. */
export async function prepareEntry(signed: SignedLedgerEntry, appKeys: ReadonlyMap<string, AppPublicJwk>, suite: CryptoSuite = webCryptoSuite): Promise<PreparedEntry> {
  const bytes = envelopePayload(signed, suite);
  if (!bytes) return { storedHashMatches: false };
  const [hash, signature] = await Promise.all([sha256Hex(bytes, suite), checkSignature(signed.envelope, bytes, appKeys, suite)]);
  const entry = parsePayload(bytes);
  return { hash, ...(entry ? { entry } : {}), storedHashMatches: signed.hash === hash, ...(signature ? { signature } : {}) };
}

interface Context {
  /** SHA-256 of the previous entry's actual payload bytes; undefined when they could not be read. */
  prevHash: string | undefined;
  /** The seq of the previous entry (its position, if it was unreadable); 0 before the first. */
  prevSeq: number;
  /** Hash of each seq already met, to tell a repeated entry from a fork. */
  seen: Map<number, string>;
}

type Report = (code: LedgerProblemCode, message: string) => void;

/** Each seq follows the last one read, so one missing or extra entry is reported once, where it is. */
function checkSequence(entry: LedgerEntry, hash: string, context: Context, report: Report): void {
  const earlier = context.seen.get(entry.seq);
  if (earlier === undefined) context.seen.set(entry.seq, hash);
  if (entry.seq === context.prevSeq + 1) return;
  if (earlier === hash) report('BAD_SEQUENCE', `Entry ${entry.seq} appears more than once.`);
  else if (earlier !== undefined) report('BAD_SEQUENCE', `Two different entries have seq ${entry.seq}: the ledger has forked.`);
  else report('BAD_SEQUENCE', `Expected seq ${context.prevSeq + 1} but found ${entry.seq}.`);
}

/** Chains to the bytes actually held for the previous entry, not to its stored hash, which could lie. */
function checkChain(entry: LedgerEntry, context: Context, report: Report): void {
  if (context.prevHash === undefined || entry.prev === context.prevHash) return;
  report('BROKEN_CHAIN', `Entry ${entry.seq}'s prev is not the SHA-256 of the entry before it.`);
}

async function checkSignature(envelope: Envelope, bytes: Uint8Array<ArrayBuffer>, appKeys: ReadonlyMap<string, AppPublicJwk>, suite: CryptoSuite): Promise<PreparedEntry['signature']> {
  // envelopePayload has already insisted on exactly one signature.
  const signature = envelope.signatures[0];
  if (!signature) return undefined;
  const publicJwk = appKeys instanceof Map ? appKeys.get(signature.keyid) : undefined;
  if (!publicJwk) return { code: 'UNKNOWN_APP_KEY', message: `The entry is signed with key ${JSON.stringify(signature.keyid)}, which is not one of the app keys given.` };
  const sig = (suite.decodeBase64 ?? decodeCanonicalBase64)(signature.sig);
  if (!sig || !(await verifyAppSignature(publicJwk, pae(LEDGER_PAYLOAD_TYPE, bytes), sig, suite))) {
    return { code: 'BAD_SIGNATURE', message: `The app signature (key ${signature.keyid}) does not verify.` };
  }
  return undefined;
}

/**
 * The exact payload bytes of a well-formed ledger envelope: one signature, the ledger payload type,
 * canonical base64. Anything else (including a non-object from storage) is undefined.
 */
function envelopePayload(signed: SignedLedgerEntry, suite: CryptoSuite = webCryptoSuite): Uint8Array<ArrayBuffer> | undefined {
  if (typeof signed !== 'object' || signed === null) return undefined;
  const parsed = EnvelopeShape.safeParse(signed.envelope);
  if (!parsed.success || parsed.data.payloadType !== LEDGER_PAYLOAD_TYPE || parsed.data.signatures.length !== 1) return undefined;
  return payloadBytes(parsed.data, suite.decodeBase64);
}

/**
 * Parses the payload bytes once, and accepts them only if they are already the JCS form of what they
 * parse to: one entry, one encoding, so its hash (and so the chain) cannot be varied by re-spelling it.
 */
function parsePayload(bytes: Uint8Array<ArrayBuffer>): LedgerEntry | undefined {
  try {
    const text = decoder.decode(bytes);
    const value: unknown = JSON.parse(text);
    const parsed = ReadEntry.safeParse(value);
    // Fatal decoding keeps text and bytes one-to-one, so comparing texts compares the bytes.
    return parsed.success && isCanonicalJson(value, text) ? (parsed.data as LedgerEntry) : undefined;
  } catch {
    return undefined;
  }
}

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
