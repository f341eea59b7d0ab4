import canonicalize from 'canonicalize';

/** RFC 8785 (JCS) canonical form, as UTF-8 bytes. Kept apart from the schemas so the PR card can sign without zod. */
export function canonicalBytes(value: unknown): Uint8Array<ArrayBuffer> {
  const text = canonicalize(value);
  if (text === undefined) throw new TypeError('value has no canonical JSON form');
  return new TextEncoder().encode(text);
}
