import { sha256 } from '@os2/crypto'

/** A seeded, serialisable random number generator (PCG32, as in Deno std `randomSeeded`). */
export interface Rng {
  nextUint32(): number
  /** A float in [0, 1) built from 53 random bits. */
  nextFloat(): number
  /** `n` random bytes as lower-case hex. */
  nextHex(bytes: number): string
  /** The full internal state, so snapshots can capture and restore it. */
  state(): RngState
}

export interface RngState { state: string, inc: string }

const MULT = 6364136223846793005n
const MASK64 = (1n << 64n) - 1n

class Pcg32 implements Rng {
  #state: bigint
  #inc: bigint
  constructor (state: bigint, inc: bigint) { this.#state = state; this.#inc = inc }

  nextUint32 (): number {
    const old = this.#state
    this.#state = (old * MULT + this.#inc) & MASK64
    const xorshifted = Number(((old >> 18n) ^ old) >> 27n & 0xffffffffn)
    const rot = Number(old >> 59n)
    return ((xorshifted >>> rot) | (xorshifted << ((-rot) & 31))) >>> 0
  }

  nextFloat (): number {
    const hi = this.nextUint32() >>> 5
    const lo = this.nextUint32() >>> 6
    return (hi * 67108864 + lo) / 9007199254740992
  }

  nextHex (bytes: number): string {
    let out = ''
    for (let i = 0; i < bytes; i += 4) out += this.nextUint32().toString(16).padStart(8, '0')
    return out.slice(0, bytes * 2)
  }

  state (): RngState { return { state: this.#state.toString(16), inc: this.#inc.toString(16) } }
}

/** A PCG32 generator derived from any seed string or integer (the seed is hashed, so nearby seeds diverge). */
export function createSeededRng (seed: string | number): Rng {
  const digest = sha256(`os2-rng:${String(seed)}`)
  const view = new DataView(digest.buffer, digest.byteOffset, digest.byteLength)
  const initState = view.getBigUint64(0)
  const initSeq = view.getBigUint64(8)
  const inc = ((initSeq << 1n) | 1n) & MASK64
  const rng = new Pcg32(0n, inc)
  rng.nextUint32()
  const seeded = new Pcg32((BigInt('0x' + rng.state().state) + initState) & MASK64, inc)
  seeded.nextUint32()
  return seeded
}

/** Restores a generator from `Rng.state()`. */
export function restoreRng (saved: RngState): Rng {
  return new Pcg32(BigInt('0x' + saved.state), BigInt('0x' + saved.inc))
}
