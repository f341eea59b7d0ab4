import { createStore, get, set, type UseStore } from 'idb-keyval';

/**
 * A signing key that lives on this device: the private half is a WebCrypto key made with
 * `extractable: false`, so the browser can sign with it but never hands out its bytes. IndexedDB
 * stores the CryptoKey object itself; only the public JWK is ever sent anywhere.
 */
export interface DeviceKey {
  keyId: string;
  label: string;
  privateKey: CryptoKey;
  publicKey: { kty: 'EC'; crv: 'P-256'; x: string; y: string };
  createdAt: string;
}

const ECDSA_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;

let store: UseStore | undefined;
const keyStore = () => (store ??= createStore('countersign', 'device-keys'));

/** One key per account on each device, so people sharing a browser profile never sign as each other. */
export function loadDeviceKey(accountId: string): Promise<DeviceKey | undefined> {
  return get<DeviceKey>(accountId, keyStore());
}

export async function saveDeviceKey(accountId: string, key: DeviceKey): Promise<void> {
  await set(accountId, key, keyStore());
}

export async function generateKeyPair(): Promise<{ privateKey: CryptoKey; publicKey: DeviceKey['publicKey'] }> {
  const pair = (await crypto.subtle.generateKey(ECDSA_P256, false, ['sign', 'verify'])) as CryptoKeyPair;
  const { kty, crv, x, y } = await crypto.subtle.exportKey('jwk', pair.publicKey);
  if (kty !== 'EC' || crv !== 'P-256' || !x || !y) throw new Error('This browser made an unexpected key.');
  return { privateKey: pair.privateKey, publicKey: { kty, crv, x, y } };
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/**
 * A label that tells this device from the person's others in the key list: browser, system and the
 * day it was enrolled ("Chrome on Linux, 1 Dec 2026"), numbered when one of their keys has it already.
 */
export function suggestedDeviceLabel(userAgent: string, now: Date, taken: readonly string[] = []): string {
  const browser = /Edg\//.test(userAgent) ? 'Edge' : /Firefox\//.test(userAgent) ? 'Firefox' : /Chrom(e|ium)\//.test(userAgent) ? 'Chrome' : /Safari\//.test(userAgent) ? 'Safari' : 'Browser';
  const os = /Windows/.test(userAgent) ? 'Windows' : /Android/.test(userAgent) ? 'Android' : /iPhone|iPad/.test(userAgent) ? 'iOS' : /Mac OS X/.test(userAgent) ? 'macOS' : /CrOS/.test(userAgent) ? 'ChromeOS' : /Linux/.test(userAgent) ? 'Linux' : 'this device';
  const base = `${browser} on ${os}, ${now.getDate()} ${MONTHS[now.getMonth()]} ${now.getFullYear()}`;
  const used = new Set(taken.map((label) => label.trim().toLowerCase()));
  let label = base;
  for (let n = 2; used.has(label.toLowerCase()); n++) label = `${base} (${n})`;
  return label;
}
