import { describe, expect, it } from 'vitest'
import { FRAME, decodeFrame, encodeFrame } from '../../src/transport/wire.ts'

describe('decodeFrame()', () => {
  it('decodes an empty SYNC frame and refuses one with a payload', () => {
    expect(decodeFrame(encodeFrame(FRAME.SYNC, ''))).toEqual({ type: 'sync' })
    expect(decodeFrame(encodeFrame(FRAME.SYNC, 'x'))).toBeUndefined()
  })

  it('decodes HELLO and WANT through their schemas, and refuses unknown types', () => {
    expect(decodeFrame(encodeFrame(FRAME.HELLO, JSON.stringify({ vector: { a: 3 } })))).toEqual({ type: 'hello', hello: { vector: { a: 3 } } })
    expect(decodeFrame(encodeFrame(FRAME.WANT, JSON.stringify({ origin: 'a', from: 0, max: 1 })))).toBeUndefined()
    expect(decodeFrame(new Uint8Array([99]))).toBeUndefined()
    expect(decodeFrame(new Uint8Array(0))).toBeUndefined()
  })
})
