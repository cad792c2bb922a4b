/**
 * Writes what deploy/compose.yaml needs that compose cannot compute: the
 * federation grants for the three nodes' peer ids and their bootstrap lists.
 * Keys are derived from fixed seeds (OS2_KEY_SEED) so the peer ids are known
 * before the containers start: fine for a local cluster, not for production
 * (there, each node generates its key on its volume and an operator grants it).
 *
 *   node --import tsx deploy/compose-env.ts > deploy/.env && docker compose -f deploy/compose.yaml up -d
 *
 * (`docker-compose`, Compose v1, reads the same .env; the project name is
 * COMPOSE_PROJECT_NAME because v1 rejects a `name:` key in the file.)
 */
import { createHash } from 'node:crypto'
import { keyPairFromSeed } from '@os2/crypto'
import { nodeIdentity } from '@os2/federation'

const nodes = [
  { name: 'a', seed: 'compose-a', ip: '172.30.0.11' },
  { name: 'b', seed: 'compose-b', ip: '172.30.0.12' },
  { name: 'c', seed: 'compose-c', ip: '172.30.0.13' }
].map(n => ({ ...n, peerId: nodeIdentity(keyPairFromSeed(createHash('sha256').update(n.seed).digest())).peerId }))
const operator = keyPairFromSeed(createHash('sha256').update('compose-operator').digest())
const grants = nodes.map(n => ({
  id: `grant-${n.name}`, principal: n.peerId, capability: 'memory.federate', scope: { namespaces: ['*'] },
  validFrom: 0, validUntil: null, version: 1, revoked: false, issuer: operator.publicKey
}))
console.log('COMPOSE_PROJECT_NAME=os2')
console.log(`OS2_GRANTS_JSON='${JSON.stringify({ grants })}'`)
for (const n of nodes) {
  const others = nodes.filter(o => o !== n).map(o => `/ip4/${o.ip}/tcp/4001/p2p/${o.peerId}`)
  console.log(`OS2_PEERS_${n.name.toUpperCase()}=${others.join(',')}`)
}
