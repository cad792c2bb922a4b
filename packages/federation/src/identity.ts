import { privateKeyFromRaw, publicKeyFromRaw } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey, peerIdFromPublicKey, peerIdFromString } from '@libp2p/peer-id'
import type { KeyPair } from '@os2/crypto'
import type { PrivateKey } from '@libp2p/interface'

/** A node's Ed25519 key seen both ways: as an `@os2/crypto` key pair and as a libp2p peer id. */
export interface NodeIdentity {
  /** libp2p peer id (`12D3KooW…`): the `origin` of the node's bundles. */
  readonly peerId: string
  readonly keyPair: KeyPair
  /** The same key as a libp2p private key, for `createLibp2p({ privateKey })`. */
  readonly libp2pKey: PrivateKey
}

/**
 * The identity of a node holding `keyPair`: same key, same peer id everywhere.
 *
 * @example
 * const id = nodeIdentity(keyPairFromSeed(seed))
 * id.peerId // '12D3KooW…'
 */
export function nodeIdentity (keyPair: KeyPair): NodeIdentity {
  const der = keyPair.privateKey.export({ format: 'der', type: 'pkcs8' })
  const seed = new Uint8Array(der.subarray(der.length - 32))
  const raw = new Uint8Array(64)
  raw.set(seed, 0)
  raw.set(keyPair.publicKeyBytes, 32)
  const libp2pKey = privateKeyFromRaw(raw)
  return { peerId: peerIdFromPrivateKey(libp2pKey).toString(), keyPair, libp2pKey }
}

/** The peer id of a raw 32-byte Ed25519 public key. */
export function peerIdOfPublicKey (raw: Uint8Array): string {
  return peerIdFromPublicKey(publicKeyFromRaw(raw)).toString()
}

const keyCache = new Map<string, Uint8Array | null>()

/** The raw Ed25519 public key embedded in a peer id, or `undefined` when `origin` is not an Ed25519 peer id. */
export function publicKeyOfPeer (origin: string): Uint8Array | undefined {
  const cached = keyCache.get(origin)
  if (cached !== undefined) return cached ?? undefined
  let raw: Uint8Array | null = null
  try {
    const id = peerIdFromString(origin)
    if (id.type === 'Ed25519') raw = id.publicKey.raw
  } catch {
    raw = null
  }
  if (keyCache.size > 4096) keyCache.clear()
  keyCache.set(origin, raw)
  return raw ?? undefined
}
