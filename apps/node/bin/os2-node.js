#!/usr/bin/env node
// libp2p 3 calls Promise.withResolvers, which Node 20 lacks: polyfill it before anything loads libp2p.
if (typeof Promise.withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    value: function withResolvers () {
      let resolve, reject
      const promise = new Promise((res, rej) => { resolve = res; reject = rej })
      return { promise, resolve, reject }
    }
  })
}
// Runs the TypeScript sources directly through tsx, so `npm ci` is the only set-up step.
const { register } = await import('tsx/esm/api')
register()
await import('../src/main.ts')
