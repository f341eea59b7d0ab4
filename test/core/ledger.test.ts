import { createHash, createPublicKey, verify as nodeVerify } from 'node:crypto';
import fc from 'fast-check';
import { AppPrivateJwk, type AppPublicJwk, type AppSigningKey, appKeyId, generateAppKey, importAppSigningKey, publicHalf, signWithAppKey } from '../../src/core/appKey';
import { derToP1363 } from '../../src/core/ecdsaDer';
import { encodeBase64, pae } from '../../src/core/dsse';
import {
  GENESIS_PREV,
  LEDGER_PAYLOAD_TYPE,
  type LedgerCheck,
  type LedgerEvent,
  type LedgerProblemCode,
  nextEntry,
  readEntry,
  type SignedLedgerEntry,
  verifyLedger,
} from '../../src/core/ledger';

const LEDGER = '{0b1f6a4e-6c2d-4f0e-9a51-3f1d2b7c8e90}';
const OTHER_LEDGER = '{7d3e2a10-5b4c-4e8f-8d21-9c0b1a2f3e4d}';
const LENGTH = 20;

interface TestKey {
  signing: AppSigningKey;
  publicJwk: AppPublicJwk;
}

async function makeKey(): Promise<TestKey> {
  const { privateJwk, publicJwk, keyId } = await generateAppKey();
  return { signing: { privateKey: await importAppSigningKey(privateJwk), keyId }, publicJwk };
}

const keysOf = (...keys: TestKey[]) => new Map(keys.map((key) => [key.signing.keyId, key.publicJwk]));

/** A plausible mix of the events the app records. */
function eventFor(seq: number): LedgerEvent {
  switch (seq % 3) {
    case 0:
      return { type: 'decision.accepted', pullRequest: seq, commit: 'a'.repeat(40), approver: `557058:${seq}`, labels: ['security'] };
    case 1:
      return { type: 'key.enrolled', accountId: `557058:${seq}`, keyId: 'k'.repeat(43), note: 'Zoë 🔑' };
    default:
      return { type: 'policy.saved', version: seq, rules: { minApprovals: 2, gated: ['main', 'release/*'] } };
  }
}

const atFor = (seq: number) => `2025-03-01T12:00:${String(seq % 60).padStart(2, '0')}.${String(seq).padStart(3, '0')}Z`;

/** A chain of `length` entries; `keyFor(seq)` picks the signer, `from` continues an existing chain. */
async function buildChain(ledger: string, length: number, keyFor: (seq: number) => TestKey, from: SignedLedgerEntry[] = []): Promise<SignedLedgerEntry[]> {
  const chain = [...from];
  for (let i = 0; i < length; i++) {
    const previous = chain.at(-1);
    const head = previous && { seq: readEntry(previous)!.seq, hash: previous.hash };
    const seq = (head?.seq ?? 0) + 1;
    chain.push(await nextEntry(head, { ledger, at: atFor(seq), event: eventFor(seq) }, keyFor(seq).signing));
  }
  return chain;
}

const clone = (chain: SignedLedgerEntry[]) => structuredClone(chain);
const codesAt = (check: LedgerCheck, index: number) => check.problems.filter((p) => p.index === index).map((p) => p.code);
const hasProblem = (check: LedgerCheck, index: number, code: LedgerProblemCode) => codesAt(check, index).includes(code);

let keyA: TestKey;
let keyB: TestKey;
let keyC: TestKey;
let chain: SignedLedgerEntry[];
let otherChain: SignedLedgerEntry[];

beforeAll(async () => {
  [keyA, keyB, keyC] = await Promise.all([makeKey(), makeKey(), makeKey()]);
  chain = await buildChain(LEDGER, LENGTH, () => keyA);
  otherChain = await buildChain(OTHER_LEDGER, LENGTH, () => keyA);
});

describe('nextEntry and readEntry', () => {
  it('chains each entry to the SHA-256 of the previous payload bytes, from 64 zeros', () => {
    const entries = chain.map((signed) => readEntry(signed)!);
    expect(entries.map((e) => e.seq)).toEqual(Array.from({ length: LENGTH }, (_, i) => i + 1));
    expect(entries[0]!.prev).toBe(GENESIS_PREV);
    for (let i = 1; i < LENGTH; i++) expect(entries[i]!.prev).toBe(chain[i - 1]!.hash);
    expect(entries[3]).toEqual({ ledger: LEDGER, seq: 4, prev: chain[2]!.hash, at: atFor(4), event: eventFor(4) });
  });

  it('writes one DSSE signature under the app key id, and nothing else', () => {
    const { envelope } = chain[0]!;
    expect(envelope.payloadType).toBe(LEDGER_PAYLOAD_TYPE);
    expect(envelope.signatures).toEqual([{ keyid: keyA.signing.keyId, sig: expect.any(String) }]);
    // ECDSA P-256 in strict DER, as DSSE and Sigstore tools expect.
    expect(derToP1363(Buffer.from(envelope.signatures[0]!.sig, 'base64'))).toHaveLength(64);
  });

  it('refuses to write entries it could not read back', async () => {
    const bad: LedgerEvent[] = [{ type: '' }, { type: 'x', n: Number.NaN }, { type: 'x', when: new Date(0) } as unknown as LedgerEvent];
    for (const event of bad) {
      await expect(nextEntry(undefined, { ledger: LEDGER, at: atFor(1), event }, keyA.signing)).rejects.toMatchObject({ code: 'INTERNAL' });
    }
    await expect(nextEntry(undefined, { ledger: LEDGER, at: '2025-03-01 12:00', event: eventFor(1) }, keyA.signing)).rejects.toMatchObject({ code: 'INTERNAL' });
    await expect(nextEntry({ seq: 1, hash: 'nope' }, { ledger: LEDGER, at: atFor(2), event: eventFor(2) }, keyA.signing)).rejects.toMatchObject({ code: 'INTERNAL' });
  });

  it('reads only the JCS spelling of an entry, even when it is correctly signed', async () => {
    const entry = readEntry(chain[0]!)!;
    const jcs = Buffer.from(chain[0]!.envelope.payload, 'base64').toString('utf8');
    const { seq, ...rest } = entry;
    const respellings = [
      JSON.stringify(entry, null, 1), // whitespace
      JSON.stringify({ seq, ...rest }), // member order
      jcs.replace('ë', '\\u00eb'), // an escape JCS does not write
      jcs.replace('"seq":1', '"seq":1.0'), // a number spelling JCS does not write
      `${jcs.slice(0, -1)},"seq":1}`, // a duplicate member
    ];
    expect(respellings.every((text) => text !== jcs)).toBe(true);
    for (const text of respellings) {
      const signed = await signRaw(new TextEncoder().encode(text), keyA);
      expect(readEntry(signed)).toBeUndefined();
      const check = await verifyLedger([signed], keysOf(keyA), LEDGER);
      expect(check.problems.map((p) => p.code)).toEqual(['MALFORMED']);
    }
  });
});

/** Signs arbitrary payload bytes as a ledger envelope, bypassing nextEntry's checks. */
async function signRaw(bytes: Uint8Array<ArrayBuffer>, key: TestKey, keyid = key.signing.keyId): Promise<SignedLedgerEntry> {
  const sig = await signWithAppKey(key.signing, pae(LEDGER_PAYLOAD_TYPE, bytes));
  return {
    envelope: { payloadType: LEDGER_PAYLOAD_TYPE, payload: encodeBase64(bytes), signatures: [{ keyid, sig: encodeBase64(sig) }] },
    hash: createHash('sha256').update(bytes).digest('hex'),
  };
}

describe('verifyLedger', () => {
  it(`accepts an intact ledger of ${LENGTH} entries and reports its head`, async () => {
    const check = await verifyLedger(chain, keysOf(keyA), LEDGER);
    expect(check).toEqual({ ok: true, entries: LENGTH, head: { seq: LENGTH, hash: chain[LENGTH - 1]!.hash }, problems: [] });
  });

  it('accepts an empty ledger, with no head', async () => {
    expect(await verifyLedger([], keysOf(keyA), LEDGER)).toEqual({ ok: true, entries: 0, problems: [] });
  });

  it('reports any single changed payload byte: the hash, the signature and the next link all break', async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat(LENGTH - 1), fc.nat(), fc.integer({ min: 1, max: 255 }), async (index, at, xor) => {
        const tampered = clone(chain);
        const bytes = Buffer.from(tampered[index]!.envelope.payload, 'base64');
        const offset = at % bytes.length;
        bytes[offset] = bytes[offset]! ^ xor;
        tampered[index]!.envelope.payload = bytes.toString('base64');
        const check = await verifyLedger(tampered, keysOf(keyA), LEDGER);
        expect(check.ok).toBe(false);
        expect(hasProblem(check, index, 'HASH_MISMATCH')).toBe(true);
        expect(hasProblem(check, index, 'BAD_SIGNATURE')).toBe(true);
        // The next link always breaks; when the changed byte was a digit of `seq`, the sequence does too.
        if (index < LENGTH - 1) {
          expect(codesAt(check, index + 1)).toContain('BROKEN_CHAIN');
          expect(codesAt(check, index + 1).filter((c) => c !== 'BROKEN_CHAIN' && c !== 'BAD_SEQUENCE')).toEqual([]);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('reports any single changed signature byte as BAD_SIGNATURE, and only that', async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat(LENGTH - 1), fc.nat(63), fc.integer({ min: 1, max: 255 }), async (index, offset, xor) => {
        const tampered = clone(chain);
        const signature = tampered[index]!.envelope.signatures[0]!;
        const sig = Buffer.from(signature.sig, 'base64');
        sig[offset] = sig[offset]! ^ xor;
        signature.sig = sig.toString('base64');
        const check = await verifyLedger(tampered, keysOf(keyA), LEDGER);
        expect(check.problems).toEqual([{ seq: index + 1, index, code: 'BAD_SIGNATURE', message: expect.any(String) }]);
      }),
      { numRuns: 200 },
    );
  });

  it('reports a removed entry where the gap is, as BAD_SEQUENCE and BROKEN_CHAIN', async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat(LENGTH - 2), async (index) => {
        const shorter = chain.filter((_, i) => i !== index);
        const check = await verifyLedger(shorter, keysOf(keyA), LEDGER);
        expect(check.ok).toBe(false);
        expect(codesAt(check, index)).toEqual(['BAD_SEQUENCE', 'BROKEN_CHAIN']);
        expect(check.problems.every((p) => p.index === index)).toBe(true);
      }),
    );
  });

  it('cannot see a truncated tail on its own: the head it reports must be compared with one known elsewhere', async () => {
    const check = await verifyLedger(chain.slice(0, -1), keysOf(keyA), LEDGER);
    expect(check.ok).toBe(true);
    expect(check.head).toEqual({ seq: LENGTH - 1, hash: chain[LENGTH - 2]!.hash });
  });

  it('reports reordered entries as BAD_SEQUENCE at the first moved entry', async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat(LENGTH - 1), fc.nat(LENGTH - 1), async (i, j) => {
        fc.pre(i !== j);
        const reordered = [...chain];
        [reordered[i], reordered[j]] = [reordered[j]!, reordered[i]!];
        const check = await verifyLedger(reordered, keysOf(keyA), LEDGER);
        expect(check.ok).toBe(false);
        expect(hasProblem(check, Math.min(i, j), 'BAD_SEQUENCE')).toBe(true);
        expect(check.problems.some((p) => p.code === 'BAD_SIGNATURE' || p.code === 'HASH_MISMATCH')).toBe(false);
      }),
    );
  });

  it('reports a duplicated entry, inserted anywhere, as BAD_SEQUENCE', async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat(LENGTH - 1), fc.nat(LENGTH), async (source, position) => {
        const duplicated = [...chain];
        duplicated.splice(position, 0, chain[source]!);
        const check = await verifyLedger(duplicated, keysOf(keyA), LEDGER);
        expect(check.ok).toBe(false);
        expect(check.problems.some((p) => p.code === 'BAD_SEQUENCE' && p.seq === source + 1)).toBe(true);
        expect(check.problems.some((p) => p.code === 'BAD_SIGNATURE' || p.code === 'HASH_MISMATCH')).toBe(false);
      }),
    );
  });

  it('says a repeated entry is a repeat', async () => {
    const check = await verifyLedger([...chain.slice(0, 4), chain[3]!, ...chain.slice(4)], keysOf(keyA), LEDGER);
    expect(check.problems).toEqual([
      { seq: 4, index: 4, code: 'BAD_SEQUENCE', message: expect.stringMatching(/more than once/) },
      { seq: 4, index: 4, code: 'BROKEN_CHAIN', message: expect.any(String) },
    ]);
  });

  it('blames an unreadable entry once, not its neighbours for a gap', async () => {
    const tampered = clone(chain);
    tampered[3]!.envelope.payload = encodeBase64(new TextEncoder().encode('not json'));
    const check = await verifyLedger(tampered, keysOf(keyA), LEDGER);
    expect(check.problems.map((p) => [p.index, p.code])).toEqual([
      [3, 'MALFORMED'],
      [3, 'HASH_MISMATCH'],
      [3, 'BAD_SIGNATURE'],
      [4, 'BROKEN_CHAIN'],
    ]);
  });

  it('reports an entry spliced in from another ledger as WRONG_LEDGER, though its signature is good', async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat(LENGTH - 1), async (index) => {
        const spliced = [...chain];
        spliced[index] = otherChain[index]!;
        const check = await verifyLedger(spliced, keysOf(keyA), LEDGER);
        expect(check.ok).toBe(false);
        expect(hasProblem(check, index, 'WRONG_LEDGER')).toBe(true);
        expect(check.problems.some((p) => p.code === 'BAD_SIGNATURE')).toBe(false);
      }),
    );
  });

  it('reports a fork: two different, validly signed entries with the same seq', async () => {
    const fork = await nextEntry({ seq: 5, hash: chain[4]!.hash }, { ledger: LEDGER, at: atFor(6), event: { type: 'policy.saved', version: 99 } }, keyA.signing);
    const check = await verifyLedger([...chain.slice(0, 6), fork, ...chain.slice(6)], keysOf(keyA), LEDGER);
    expect(check.ok).toBe(false);
    expect(check.problems).toEqual([
      { seq: 6, index: 6, code: 'BAD_SEQUENCE', message: expect.stringMatching(/forked/) },
      { seq: 6, index: 6, code: 'BROKEN_CHAIN', message: expect.any(String) },
      { seq: 7, index: 7, code: 'BROKEN_CHAIN', message: expect.any(String) },
    ]);
  });

  it('reports a stored hash that has drifted from the payload as HASH_MISMATCH, and only that', async () => {
    const tampered = clone(chain);
    tampered[9]!.hash = chain[8]!.hash;
    const check = await verifyLedger(tampered, keysOf(keyA), LEDGER);
    expect(check.problems).toEqual([{ seq: 10, index: 9, code: 'HASH_MISMATCH', message: expect.any(String) }]);
  });

  it('reports an entry signed by a key it was not given as UNKNOWN_APP_KEY', async () => {
    const mixed = await buildChain(LEDGER, 10, (seq) => (seq === 7 ? keyC : keyA));
    const check = await verifyLedger(mixed, keysOf(keyA, keyB), LEDGER);
    expect(check.problems).toEqual([{ seq: 7, index: 6, code: 'UNKNOWN_APP_KEY', message: expect.any(String) }]);
  });

  it('reports an entry signed by one key but claiming another key id as BAD_SIGNATURE', async () => {
    const entry = await nextEntry(undefined, { ledger: LEDGER, at: atFor(1), event: eventFor(1) }, { privateKey: keyC.signing.privateKey, keyId: keyA.signing.keyId });
    const check = await verifyLedger([entry], keysOf(keyA, keyC), LEDGER);
    expect(check.problems.map((p) => p.code)).toEqual(['BAD_SIGNATURE']);
  });

  it('follows key rotation: entries 1-5 under key A, 6-10 under key B', async () => {
    const rotated = await buildChain(LEDGER, 10, (seq) => (seq <= 5 ? keyA : keyB));
    expect(await verifyLedger(rotated, keysOf(keyA, keyB), LEDGER)).toMatchObject({ ok: true, entries: 10, head: { seq: 10 } });
    const onlyA = await verifyLedger(rotated, keysOf(keyA), LEDGER);
    expect(onlyA.problems.map((p) => [p.index, p.code])).toEqual([5, 6, 7, 8, 9].map((i) => [i, 'UNKNOWN_APP_KEY']));
  });

  it('reports envelopes that are not ledger envelopes as MALFORMED, and never throws', async () => {
    const base = chain[0]!;
    const variants: unknown[] = [
      null,
      'entry',
      { hash: base.hash },
      { ...base, envelope: { ...base.envelope, payloadType: 'application/vnd.in-toto+json' } },
      { ...base, envelope: { ...base.envelope, signatures: [...base.envelope.signatures, ...base.envelope.signatures] } },
      { ...base, envelope: { ...base.envelope, payload: `${base.envelope.payload}=` } },
    ];
    for (const variant of variants) {
      const check = await verifyLedger([variant as SignedLedgerEntry], keysOf(keyA), LEDGER);
      expect(check.problems.map((p) => p.code)).toEqual(['MALFORMED']);
    }
    expect(await verifyLedger('nope' as unknown as SignedLedgerEntry[], keysOf(keyA), LEDGER)).toMatchObject({ ok: false });
  });

  it('reports a spare-bit respelling of the signature as BAD_SIGNATURE: one signature, one spelling', async () => {
    // A DER signature's length varies; an entry whose signature ends in padding has spare bits to set.
    const index = chain.findIndex((signed) => signed.envelope.signatures[0]!.sig.endsWith('='));
    expect(index).toBeGreaterThanOrEqual(0);
    const tampered = clone(chain.slice(0, index + 1));
    const signature = tampered[index]!.envelope.signatures[0]!;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    const padding = signature.sig.endsWith('==') ? 2 : 1;
    const last = signature.sig.at(-1 - padding)!;
    signature.sig = `${signature.sig.slice(0, -1 - padding)}${alphabet[alphabet.indexOf(last) ^ 1]}${'='.repeat(padding)}`;
    expect(Buffer.from(signature.sig, 'base64')).toEqual(Buffer.from(chain[index]!.envelope.signatures[0]!.sig, 'base64'));
    const check = await verifyLedger(tampered, keysOf(keyA), LEDGER);
    expect(check.problems.map((p) => p.code)).toEqual(['BAD_SIGNATURE']);
  });
});

describe('checking the ledger with standard tools only', () => {
  it('verifies every entry with node:crypto, JSON.parse and SHA-256, none of Countersign\'s code', () => {
    // What an auditor does with the published public JWK and the exported envelopes.
    const publicKey = createPublicKey({ key: { ...keyA.publicJwk }, format: 'jwk' });
    let prev = '0'.repeat(64);
    chain.forEach((signed, index) => {
      const { payloadType, payload, signatures } = signed.envelope;
      const body = Buffer.from(payload, 'base64');
      const type = Buffer.from(payloadType, 'utf8');
      const paeBytes = Buffer.concat([Buffer.from(`DSSEv1 ${type.length} `), type, Buffer.from(` ${body.length} `), body]);
      expect(signatures).toHaveLength(1);
      expect(nodeVerify('sha256', paeBytes, publicKey, Buffer.from(signatures[0]!.sig, 'base64'))).toBe(true);
      const entry = JSON.parse(body.toString('utf8'));
      expect(entry).toMatchObject({ ledger: LEDGER, seq: index + 1, prev });
      prev = createHash('sha256').update(body).digest('hex');
      expect(signed.hash).toBe(prev);
    });
  });
});

describe('an installation whose app key was made before keys were P-256', () => {
  it('keeps verifying its Ed25519 entries, also when a P-256 key signs on after them', async () => {
    const pair = (await crypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify'])) as CryptoKeyPair;
    const privateJwk = AppPrivateJwk.parse(await crypto.subtle.exportKey('jwk', pair.privateKey));
    const publicJwk = publicHalf(privateJwk);
    const legacy: TestKey = { signing: { privateKey: await importAppSigningKey(privateJwk), keyId: await appKeyId(publicJwk) }, publicJwk };
    const mixed = await buildChain(LEDGER, 6, (seq) => (seq <= 3 ? legacy : keyA));
    expect(Buffer.from(mixed[0]!.envelope.signatures[0]!.sig, 'base64')).toHaveLength(64);
    expect(await verifyLedger(mixed, keysOf(legacy, keyA), LEDGER)).toMatchObject({ ok: true, entries: 6 });
    // Each key signs only its own entries.
    const onlyNew = await verifyLedger(mixed, keysOf(keyA), LEDGER);
    expect(onlyNew.problems.map((p) => [p.index, p.code])).toEqual([0, 1, 2].map((i) => [i, 'UNKNOWN_APP_KEY']));
  });
});
