import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { CommandContext, ExitCode } from '../command-context.ts'

/** `os2 doctor`: what isolation a Python session gets on this machine, the Pyodide version and the snapshot cache. */
export async function doctorCommand (ctx: CommandContext): Promise<ExitCode> {
  const { checkSnapshotDir, defaultSnapshotDir, describeIsolation, pyodideVersion, snapshotCacheState } = await import('@os2/sandbox')
  const isolation = describeIsolation()
  const dir = defaultSnapshotDir()
  // Sessions run what the folder holds: say whether it is this user's alone (the first run creates it so).
  let folder: string
  try {
    checkSnapshotDir(dir)
    folder = 'private'
  } catch (err) {
    folder = (err as { code?: string }).code === 'SNAPSHOT_DIR_UNSAFE' ? (err as Error).message : 'not created yet'
  }
  const files = await readdir(dir).catch(() => [] as string[])
  const snapshots = []
  for (const f of files.filter(n => n.endsWith('.bin') || n.endsWith('.snapshot') || !n.startsWith('.'))) {
    const info = await stat(join(dir, f)).catch(() => undefined)
    if (info?.isFile() === true) snapshots.push({ file: f, bytes: info.size })
  }
  const report = {
    pyodide: pyodideVersion(),
    isolation,
    wasi: 'node:wasi preview1 in a separate process (empty env, no preopens, network namespace when available); Node 20 permission model refuses node:wasi, so that process runs without it',
    // This version's set: a cold session start needs all three (the first run makes them).
    snapshotCache: { dir, folder, snapshots, current: snapshotCacheState(dir) }
  }
  if (ctx.out.json) {
    ctx.out.document(report)
    return 0
  }
  const yes = (b: boolean): string => b ? 'yes' : 'no'
  ctx.out.fields([
    ['platform', isolation.platform],
    ['node', isolation.node],
    ['pyodide', report.pyodide],
    ['process per session', 'yes'],
    ['permission model', yes(isolation.permissionModel)],
    ['empty environment', yes(isolation.emptyEnvironment)],
    ['network namespace', `${yes(isolation.networkNamespace.available)} (${isolation.networkNamespace.reason})`],
    ['memory limit', isolation.memoryLimit === 'rss-poll' ? 'RSS polled from /proc, SIGKILL past the limit' : 'unavailable (only --max-old-space-size)'],
    ['wall-clock limit', yes(isolation.wallClockLimit)],
    ['wasi', report.wasi],
    ['snapshot cache', `${dir} (${snapshots.length === 0 ? 'empty: the first run builds it' : snapshots.map(s => `${s.file} ${s.bytes} bytes`).join(', ')})`],
    ['snapshot folder', folder],
    ['this version', `${report.snapshotCache.current.present ? 'snapshot ready' : 'no snapshot yet'}, JS code cache ${yes(report.snapshotCache.current.codeCache)}, compiled WASM cache ${report.snapshotCache.current.wasmCache}`]
  ])
  for (const note of isolation.notes) ctx.out.line(`note: ${note}`)
  return 0
}
