import { describe, expect, it } from 'vitest'
import { runOnce } from './helpers.ts'

const SCRIPT = `
import random, time, uuid, os, secrets, datetime
print(random.random())
print(time.time(), time.time_ns(), time.monotonic())
print(uuid.uuid4())
print(os.urandom(4).hex(), secrets.token_hex(8))
print(datetime.datetime.now().isoformat(), datetime.date.today())
print(list({'b': 1, 'a': 2, 'c': 3}), list({'x', 'y', 'z', 'w', 'alpha', 'beta'}))
print(hash('os2'), random.Random().random())
`

describe('createSandbox() determinism', () => {
  it('run() prints the same bytes in two sessions with the same seed and tick', async () => {
    const a = await runOnce(SCRIPT, { seed: 7 })
    const b = await runOnce(SCRIPT, { seed: 7 })
    expect(a.status).toBe('ok')
    expect(a.stdout.split('\n').length).toBeGreaterThan(6)
    expect(b.stdout).toBe(a.stdout)
    expect(b.units).toBe(a.units)
  })

  it('run() prints different random values when the seed differs', async () => {
    const a = await runOnce(SCRIPT, { seed: 7 })
    const c = await runOnce(SCRIPT, { seed: 8 })
    expect(c.status).toBe('ok')
    const [randA, , uuidA, bytesA] = a.stdout.split('\n')
    const [randC, , uuidC, bytesC] = c.stdout.split('\n')
    expect(randC).not.toBe(randA)
    expect(uuidC).not.toBe(uuidA)
    expect(bytesC).not.toBe(bytesA)
  })

  it('run() gives the same bytes and units with and without the memory snapshot', async () => {
    const withSnapshot = await runOnce(SCRIPT, { seed: 9 })
    const cold = await runOnce(SCRIPT, { seed: 9, snapshot: false })
    expect(cold.status).toBe('ok')
    expect(cold.stdout).toBe(withSnapshot.stdout)
    expect(cold.units).toBe(withSnapshot.units)
  })

  it('run() serves time from the virtual clock the parent passes', async () => {
    const r = await runOnce('import time, datetime\nprint(int(time.time()))\nprint(datetime.datetime.now(datetime.UTC).year)', { tick: 86_400_000, epochMs: 0 })
    expect(r.stdout).toBe('86400\n1970\n')
  })

  it('run() advances the virtual clock on sleep without waiting', async () => {
    const r = await runOnce('import time\nt = time.monotonic()\ntime.sleep(3600)\nprint(round(time.monotonic() - t))')
    expect(r.stdout).toBe('3600\n')
    expect(r.wallMs).toBeLessThan(5000)
  })

  it('asyncio.run() works on a virtual-clock loop: sleeps advance time without waiting', async () => {
    const code = [
      'import asyncio, time',
      'async def f(n):',
      '    await asyncio.sleep(n)',
      '    return n',
      'async def main():',
      '    t = time.monotonic()',
      '    r = await asyncio.gather(f(20), f(10), f(30))',
      '    print(r, round(time.monotonic() - t))',
      'asyncio.run(main())'
    ].join('\n')
    const r = await runOnce(code)
    expect(r.status).toBe('ok')
    expect(r.stdout).toBe('[20, 10, 30] 30\n')
    expect(r.wallMs).toBeLessThan(10_000)
  })
})
