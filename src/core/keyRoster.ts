import * as z from 'zod/mini';
import { signWithAppKey, verifyAppSignature, type AppPublicJwk, type AppSigningKey } from './appKey';
import { canonicalBytes, webCryptoSuite, type CryptoSuite } from './crypto';
import { decodeCanonicalBase64, encodeBase64, pae, payloadBytes, type Envelope } from './dsse';
import { EnvelopeShape } from './dsseVerify';
import { AccountId, KeyId, UtcTimestamp } from './formats';

/**
 * The key roster: the app's signed account, made when a repository's evidence is exported, of every
 * approver key its decisions used, with where each was enrolled and every revocation of it that holds
 * in the repository but was recorded in another ledger (another repository's, or the installation's).
 *
 * A repository's ledger holds the enrolments and revocations made from it; a key enrolled or revoked
 * everywhere from elsewhere is in that other ledger. The bundle carries those entries beside the
 * roster, and the roster, under the app's signature, says which there are: an exporter cannot leave
 * a revocation out without breaking it.
 */
export const KEY_ROSTER_PAYLOAD_TYPE = 'application/vnd.countersign.key-roster+json';

const Sha256Hex = z.string().check(z.regex(/^[0-9a-f]{64}$/));

/** A ledger entry named from elsewhere: its ledger, seq and SHA-256. */
export const EntryRef = z.strictObject({
  ledger: z.string().check(z.minLength(1), z.maxLength(200)),
  seq: z.int().check(z.positive()),
  hash: Sha256Hex,
});
export type EntryRef = z.infer<typeof EntryRef>;

export const RosterKey = z.strictObject({
  accountId: AccountId,
  keyId: KeyId,
  /** The enrolment entry; null for a key enrolled before Countersign kept where (its entry cannot be named). */
  enrolment: z.nullable(EntryRef),
  /**
   * Revocations that hold in this repository and are not in its ledger: each with its entry, or with
   * none for one recorded before Countersign kept where (then `revokedAt`, under this signature, is all there is).
   */
  revocations: z.array(z.strictObject({ revokedAt: UtcTimestamp, entry: z.nullable(EntryRef) })).check(z.maxLength(100)),
});
export type RosterKey = z.infer<typeof RosterKey>;

export const KeyRoster = z.strictObject({
  ledger: z.string().check(z.minLength(1), z.maxLength(200)),
  /** The head the export stopped at: the roster is of keys used up to it. */
  head: z.nullable(z.strictObject({ seq: z.int().check(z.positive()), hash: Sha256Hex })),
  issuedAt: UtcTimestamp,
  keys: z.array(RosterKey).check(z.maxLength(100_000)),
});
export type KeyRoster = z.infer<typeof KeyRoster>;

/** The roster as a DSSE envelope signed by the app: its JCS bytes under `KEY_ROSTER_PAYLOAD_TYPE`. */
export async function signKeyRoster(roster: KeyRoster, appKey: AppSigningKey): Promise<Envelope> {
  const bytes = canonicalBytes(KeyRoster.parse(roster));
  const sig = await signWithAppKey(appKey, pae(KEY_ROSTER_PAYLOAD_TYPE, bytes));
  return { payloadType: KEY_ROSTER_PAYLOAD_TYPE, payload: encodeBase64(bytes), signatures: [{ keyid: appKey.keyId, sig: encodeBase64(sig) }] };
}

/** The roster an envelope carries once its app signature is checked, or why it cannot be read; never throws. */
export async function openKeyRoster(
  value: unknown,
  appKeys: ReadonlyMap<string, AppPublicJwk>,
  suite: CryptoSuite = webCryptoSuite,
): Promise<{ roster: KeyRoster } | { problem: string }> {
  const envelope = EnvelopeShape.safeParse(value);
  if (!envelope.success || envelope.data.payloadType !== KEY_ROSTER_PAYLOAD_TYPE || envelope.data.signatures.length !== 1) {
    return { problem: `the key roster is not a DSSE envelope of ${KEY_ROSTER_PAYLOAD_TYPE} with one signature.` };
  }
  const decode = suite.decodeBase64 ?? decodeCanonicalBase64;
  const bytes = payloadBytes(envelope.data, decode);
  const { keyid, sig } = envelope.data.signatures[0]!;
  const publicJwk = appKeys.get(keyid);
  if (!publicJwk) return { problem: `the key roster is signed with key ${JSON.stringify(keyid)}, which is not one of the bundle's app keys.` };
  const signature = decode(sig);
  if (!bytes || !signature || !(await verifyAppSignature(publicJwk, pae(KEY_ROSTER_PAYLOAD_TYPE, bytes), signature, suite))) {
    return { problem: `the key roster's app signature (key ${keyid}) does not verify: it was changed after the app signed it.` };
  }
  let parsed;
  try {
    parsed = KeyRoster.safeParse(JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)));
  } catch {
    return { problem: 'the key roster is signed but its payload is not JSON.' };
  }
  if (!parsed.success) return { problem: `the key roster is signed but not in the shape this verifier reads: ${z.prettifyError(parsed.error).split('\n').slice(0, 2).join(' ')}` };
  return { roster: parsed.data };
}

/** `ref` spelt as one string, to look entries up by. */
export function entryRefId(ref: EntryRef): string {
  return `${ref.ledger} ${ref.seq} ${ref.hash}`;
}
