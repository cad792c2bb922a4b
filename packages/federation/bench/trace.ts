import { existsSync, readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { gunzipSync } from 'node:zlib'

/** One text edit: delete `del` characters at `pos`, then insert `ins` there. */
export type Patch = [pos: number, del: number, ins: string]

const DEFAULT_TRACE = resolve(import.meta.dirname, '../../../../shared/data/automerge-paper.json.gz')

/** The editing trace's patches, from `$OS2_TRACE` or `../shared/data/` beside the repo; `undefined` (with a message on stderr) when absent. */
export function loadTrace (): { path: string, patches: Patch[], endContent: string } | undefined {
  const path = process.env.OS2_TRACE ?? DEFAULT_TRACE
  if (!existsSync(path)) {
    console.error(`Editing trace not found at ${path}: set OS2_TRACE to automerge-paper.json.gz (see DESIGN.md, Performance)`)
    return undefined
  }
  const data = JSON.parse(gunzipSync(readFileSync(path)).toString('utf8')) as { endContent: string, txns: Array<{ patches: Patch[] }> }
  return { path, patches: data.txns.flatMap(t => t.patches), endContent: data.endContent }
}
