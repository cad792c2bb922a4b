// libp2p 3 calls Promise.withResolvers, which Node 20 lacks (see ../shared/STACK.md).
import '@os2/federation/polyfill'
