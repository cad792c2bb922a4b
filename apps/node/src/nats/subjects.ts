/**
 * Naming of the event fan-out. Each node's events go to the subject
 * `os2.<cluster>.events.<node>`, kept in a stream of its own,
 * `OS2_<cluster>_<node>`. One stream per node makes two things exact: the
 * stream sequence of ledger event `seq` is `seq + 1`, and every publish can
 * assert its predecessor (`Nats-Expected-Last-Msg-Id` = `prev_hash`), so a
 * stream can never hold a gap or a reordering.
 */
export function eventSubject (cluster: string, node: string): string {
  return `os2.${cluster}.events.${node}`
}

/** The JetStream stream holding one node's events. */
export function eventStream (cluster: string, node: string): string {
  return `OS2_${cluster}_${node}`
}

/** Prefix of every event stream of `cluster` (to list the cluster's nodes). */
export function clusterStreamPrefix (cluster: string): string {
  return `OS2_${cluster}_`
}

/** Message header carrying the ledger seq. */
export const SEQ_HEADER = 'Os2-Seq'
/** Message header carrying the publishing node's name. */
export const NODE_HEADER = 'Os2-Node'
