import { createPrivateKey, createPublicKey, generateKeyPairSync, hash as oneShotHash, sign as edSign, verify as edVerify } from 'node:crypto'
import { chmod, open, rename, stat, unlink } from 'node:fs/promises'
import { dirname, basename, join } from 'node:path'
import type { KeyObject } from 'node:crypto'
import { CryptoError } from './errors.ts'

/** Anything that can sign on behalf of one Ed25519 key: the node key, a user key, a test key. */
export interface Signer {
  /** Raw 32-byte Ed25519 public key, base64url without padding. */
  readonly publicKey: string
  /** Stable short id: `ed25519:<first 16 hex of SHA-256(raw public key)>`. */
  readonly keyId: string
  /** Ed25519 signature (64 bytes) of `data`. */
  sign(data: Uint8Array): Uint8Array
}

/** An Ed25519 key pair with its `KeyObject`s kept, so signing never re-parses a key. */
export interface KeyPair extends Signer {
  readonly privateKey: KeyObject
  readonly publicKeyObject: KeyObject
  /** Raw 32-byte public key. */
  readonly publicKeyBytes: Uint8Array
}

// PKCS#8 DER prefix of an Ed25519 private key; the 32-byte seed follows.
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')
// SPKI DER prefix of an Ed25519 public key; the 32 raw bytes follow.
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')

class Ed25519KeyPair implements KeyPair {
  readonly privateKey: KeyObject
  readonly publicKeyObject: KeyObject
  readonly publicKeyBytes: Uint8Array
  readonly publicKey: string
  readonly keyId: string

  constructor (privateKey: KeyObject) {
    if (privateKey.asymmetricKeyType !== 'ed25519') {
      throw new CryptoError('KEY_INVALID', `Cannot use key: expected an Ed25519 private key, got ${String(privateKey.asymmetricKeyType)}`)
    }
    this.privateKey = privateKey
    this.publicKeyObject = createPublicKey(privateKey)
    this.publicKeyBytes = rawPublicKey(this.publicKeyObject)
    this.publicKey = Buffer.from(this.publicKeyBytes).toString('base64url')
    this.keyId = keyIdOf(this.publicKeyBytes)
    publicKeyCache.set(this.publicKey, this.publicKeyObject)
  }

  sign (data: Uint8Array): Uint8Array {
    return edSign(null, data, this.privateKey)
  }
}

function rawPublicKey (key: KeyObject): Uint8Array {
  const der = key.export({ format: 'der', type: 'spki' })
  return new Uint8Array(der.subarray(der.length - 32))
}

function keyIdOf (raw: Uint8Array): string {
  return `ed25519:${oneShotHash('sha256', raw, 'hex').slice(0, 16)}`
}

/**
 * A fresh Ed25519 key pair from the operating system's CSPRNG.
 *
 * @example
 * const kp = generateKeyPair()
 * verify(data, kp.sign(data), kp.publicKey) // true
 */
export function generateKeyPair (): KeyPair {
  return new Ed25519KeyPair(generateKeyPairSync('ed25519').privateKey)
}

/**
 * The key pair derived from a 32-byte Ed25519 seed: deterministic keys for tests and fixtures.
 *
 * @throws CryptoError `KEY_INVALID` when the seed is not 32 bytes
 */
export function keyPairFromSeed (seed: Uint8Array): KeyPair {
  if (seed.length !== 32) throw new CryptoError('KEY_INVALID', `Cannot derive key: seed has ${seed.length} bytes, expected 32`)
  return new Ed25519KeyPair(createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' }))
}

/**
 * A key pair from a PKCS#8 PEM private key.
 *
 * @throws CryptoError `KEY_INVALID` when the PEM is not an Ed25519 private key
 */
export function keyPairFromPem (pem: string): KeyPair {
  let key: KeyObject
  try {
    key = createPrivateKey({ key: pem, format: 'pem' })
  } catch (err) {
    throw new CryptoError('KEY_INVALID', 'Cannot parse private key: not a PKCS#8 PEM key', { cause: err })
  }
  return new Ed25519KeyPair(key)
}

/** The private key as PKCS#8 PEM (what `saveKeyPair` writes). */
export function keyPairToPem (kp: KeyPair): string {
  return kp.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString()
}

/**
 * Writes the private key to `path` as PKCS#8 PEM with mode 0600, atomically
 * (temporary file, fsync, rename), whatever the process umask.
 */
export async function saveKeyPair (path: string, kp: KeyPair): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`)
  const handle = await open(tmp, 'w', 0o600)
  try {
    await handle.chmod(0o600)
    await handle.writeFile(keyPairToPem(kp))
    await handle.sync()
  } catch (err) {
    await handle.close()
    await unlink(tmp).catch(() => undefined)
    throw err
  }
  await handle.close()
  await rename(tmp, path)
  await chmod(path, 0o600)
}

/**
 * Reads a key written by `saveKeyPair`.
 *
 * @throws CryptoError `KEY_FILE_PERMISSIONS` when group or others may read or write the file,
 * `KEY_INVALID` when it does not hold an Ed25519 private key
 */
export async function loadKeyPair (path: string): Promise<KeyPair> {
  const handle = await open(path, 'r')
  try {
    const info = await handle.stat()
    if ((info.mode & 0o077) !== 0) {
      throw new CryptoError('KEY_FILE_PERMISSIONS', `Cannot load key ${path}: mode ${(info.mode & 0o777).toString(8)} lets group or others access it, expected 600`)
    }
    return keyPairFromPem(await handle.readFile('utf8'))
  } finally {
    await handle.close()
  }
}

/** True when a key file exists at `path`. */
export async function keyFileExists (path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch {
    return false
  }
}

const publicKeyCache = new Map<string, KeyObject>()
const PUBLIC_KEY_CACHE_LIMIT = 4096

/**
 * Parses a public key given as base64url (43 chars) or hex (64 chars) of the
 * raw 32 bytes, or raw bytes; parsed `KeyObject`s are cached.
 *
 * @throws CryptoError `KEY_INVALID` when it is not a 32-byte key
 */
export function importPublicKey (key: string | Uint8Array | KeyObject): KeyObject {
  if (typeof key === 'object' && !(key instanceof Uint8Array)) {
    if (key.type !== 'public' || key.asymmetricKeyType !== 'ed25519') throw new CryptoError('KEY_INVALID', 'Cannot use key: expected an Ed25519 public key')
    return key
  }
  const cacheKey = typeof key === 'string' ? key : Buffer.from(key).toString('base64url')
  const cached = publicKeyCache.get(cacheKey)
  if (cached !== undefined) return cached
  const raw = typeof key === 'string' ? decodePublicKeyString(key) : key
  if (raw.length !== 32) throw new CryptoError('KEY_INVALID', `Cannot parse public key: ${raw.length} bytes, expected 32`)
  const obj = createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: 'der', type: 'spki' })
  if (publicKeyCache.size >= PUBLIC_KEY_CACHE_LIMIT) publicKeyCache.clear()
  publicKeyCache.set(cacheKey, obj)
  return obj
}

function decodePublicKeyString (key: string): Uint8Array {
  if (/^[0-9a-f]{64}$/i.test(key)) return Buffer.from(key, 'hex')
  if (/^[A-Za-z0-9_-]{43}$/.test(key)) return Buffer.from(key, 'base64url')
  throw new CryptoError('KEY_INVALID', 'Cannot parse public key: expected 43 base64url or 64 hex characters')
}

/** `ed25519:<first 16 hex of SHA-256(raw public key)>` for a public key in any form `importPublicKey` takes. */
export function keyIdFor (key: string | Uint8Array | KeyObject): string {
  return keyIdOf(rawPublicKey(importPublicKey(key)))
}

/** Raw public key bytes as lower-case hex. */
export function publicKeyHex (key: string | Uint8Array | KeyObject): string {
  return Buffer.from(rawPublicKey(importPublicKey(key))).toString('hex')
}

/**
 * Signs `data` with a signer or a key pair.
 *
 * @example
 * const sig = sign(bytes, kp)
 */
export function sign (data: Uint8Array, signer: Signer): Uint8Array {
  return signer.sign(data)
}

/**
 * Verifies an Ed25519 signature. Never throws for a bad signature or a
 * malformed key: it answers false.
 */
export function verify (data: Uint8Array, signature: Uint8Array, publicKey: string | Uint8Array | KeyObject): boolean {
  if (signature.length !== 64) return false
  let key: KeyObject
  try {
    key = importPublicKey(publicKey)
  } catch {
    return false
  }
  return edVerify(null, data, key, signature)
}
