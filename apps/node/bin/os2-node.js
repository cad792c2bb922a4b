#!/usr/bin/env node
// Runs the TypeScript sources directly through tsx, so `npm ci` is the only set-up step.
const { register } = await import('tsx/esm/api')
register()
// libp2p 3 calls Promise.withResolvers, which Node 20 lacks: polyfill it before anything loads libp2p.
await import('@os2/federation/polyfill')
await import('../src/main.ts')
