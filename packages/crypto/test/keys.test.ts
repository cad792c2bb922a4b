import { chmod, mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createHash } from 'node:crypto'
import { afterAll, describe, expect, it } from 'vitest'
import {
  CryptoError, generateKeyPair, importPublicKey, keyIdFor, keyPairFromSeed, loadKeyPair, publicKeyHex, saveKeyPair, sign, verify
} from '../src/index.ts'

const dirs: string[] = []
async function tempDir (): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'os2-keys-'))
  dirs.push(d)
  return d
}
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

const data = new TextEncoder().encode('checkpoint 42')

describe('generateKeyPair()', () => {
  it('signs bytes that verify() accepts with the public key string, hex or bytes', () => {
    const kp = generateKeyPair()
    const sig = kp.sign(data)
    expect(sig.length).toBe(64)
    expect(verify(data, sig, kp.publicKey)).toBe(true)
    expect(verify(data, sign(data, kp), publicKeyHex(kp.publicKey))).toBe(true)
    expect(verify(data, sig, kp.publicKeyBytes)).toBe(true)
    expect(verify(data, sig, kp.publicKeyObject)).toBe(true)
  })

  it('verify() answers false when the data, the signature or the key differ', () => {
    const kp = generateKeyPair()
    const other = generateKeyPair()
    const sig = kp.sign(data)
    const badSig = Uint8Array.from(sig)
    badSig[10] = (badSig[10] as number) ^ 1
    const badData = Uint8Array.from(data)
    badData[0] = (badData[0] as number) ^ 1
    expect(verify(badData, sig, kp.publicKey)).toBe(false)
    expect(verify(data, badSig, kp.publicKey)).toBe(false)
    expect(verify(data, sig, other.publicKey)).toBe(false)
    expect(verify(data, sig.subarray(0, 63), kp.publicKey)).toBe(false)
    expect(verify(data, sig, 'not-a-key')).toBe(false)
  })

  it('keyId is ed25519: plus the first 16 hex of SHA-256 of the raw public key', () => {
    const kp = generateKeyPair()
    const expected = 'ed25519:' + createHash('sha256').update(kp.publicKeyBytes).digest('hex').slice(0, 16)
    expect(kp.keyId).toBe(expected)
    expect(keyIdFor(kp.publicKey)).toBe(expected)
    expect(kp.publicKey).toMatch(/^[A-Za-z0-9_-]{43}$/)
  })
})

describe('keyPairFromSeed()', () => {
  it('derives the same key from the same seed and a different key from another', () => {
    const a = keyPairFromSeed(new Uint8Array(32).fill(7))
    const b = keyPairFromSeed(new Uint8Array(32).fill(7))
    const c = keyPairFromSeed(new Uint8Array(32).fill(8))
    expect(a.publicKey).toBe(b.publicKey)
    expect(a.publicKey).not.toBe(c.publicKey)
    // Ed25519 signatures are deterministic.
    expect(Buffer.from(a.sign(data)).toString('hex')).toBe(Buffer.from(b.sign(data)).toString('hex'))
  })

  it('throws KEY_INVALID for a seed that is not 32 bytes', () => {
    expect(() => keyPairFromSeed(new Uint8Array(31))).toThrow(expect.objectContaining({ code: 'KEY_INVALID' }))
  })

  it('matches the RFC 8032 test vector 1 public key', () => {
    const seed = Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex')
    const kp = keyPairFromSeed(seed)
    expect(publicKeyHex(kp.publicKey)).toBe('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a')
    expect(Buffer.from(kp.sign(new Uint8Array(0))).toString('hex')).toBe(
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b')
  })
})

describe('saveKeyPair()', () => {
  it('writes the key with mode 0600 even under a permissive umask, and loadKeyPair() reads it back', async () => {
    const dir = await tempDir()
    const path = join(dir, 'node.key')
    const old = process.umask(0o000)
    const kp = generateKeyPair()
    try {
      await saveKeyPair(path, kp)
    } finally {
      process.umask(old)
    }
    expect((await stat(path)).mode & 0o777).toBe(0o600)
    const loaded = await loadKeyPair(path)
    expect(loaded.publicKey).toBe(kp.publicKey)
    expect(loaded.keyId).toBe(kp.keyId)
    expect(verify(data, loaded.sign(data), kp.publicKey)).toBe(true)
  })

  it('loadKeyPair() refuses a key file readable by group or others with KEY_FILE_PERMISSIONS', async () => {
    const dir = await tempDir()
    const path = join(dir, 'node.key')
    await saveKeyPair(path, generateKeyPair())
    for (const mode of [0o640, 0o604, 0o660, 0o644]) {
      await chmod(path, mode)
      const err = await loadKeyPair(path).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(CryptoError)
      expect((err as CryptoError).code).toBe('KEY_FILE_PERMISSIONS')
    }
    await chmod(path, 0o400)
    await expect(loadKeyPair(path)).resolves.toBeDefined()
  })

  it('loadKeyPair() throws KEY_INVALID for a file that is not an Ed25519 key', async () => {
    const dir = await tempDir()
    const path = join(dir, 'junk.key')
    await writeFile(path, 'not a key', { mode: 0o600 })
    await expect(loadKeyPair(path)).rejects.toMatchObject({ code: 'KEY_INVALID' })
  })
})

describe('importPublicKey()', () => {
  it('returns the cached KeyObject for the same string and rejects a wrong length', () => {
    const kp = generateKeyPair()
    expect(importPublicKey(kp.publicKey)).toBe(importPublicKey(kp.publicKey))
    expect(() => importPublicKey('abcd')).toThrow(expect.objectContaining({ code: 'KEY_INVALID' }))
    expect(() => importPublicKey(new Uint8Array(31))).toThrow(expect.objectContaining({ code: 'KEY_INVALID' }))
  })
})
