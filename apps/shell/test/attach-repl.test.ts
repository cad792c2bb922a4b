import { describe, expect, it } from 'vitest'
import { splitWords } from '../src/commands/repl.ts'
import { shellKeyPath } from '../src/attach-backend.ts'

describe('splitWords', () => {
  it('`splitWords()` splits on whitespace and keeps quoted groups and escapes together', () => {
    expect(splitWords('  cap-list   --json ')).toEqual(['cap-list', '--json'])
    expect(splitWords(`submit --args '{"a": 1}' --tag "two words"`)).toEqual(['submit', '--args', '{"a": 1}', '--tag', 'two words'])
    expect(splitWords('pyx "print(\\"hi\\")"')).toEqual(['pyx', 'print("hi")'])
    expect(splitWords('a\\ b ""')).toEqual(['a b', ''])
    expect(splitWords('')).toEqual([])
  })

  it('`splitWords()` throws a USAGE error when a quote is left open', () => {
    expect(() => splitWords("pyx 'oops")).toThrow(/Unclosed ' quote/)
  })
})

describe('shellKeyPath', () => {
  it('`shellKeyPath()` uses --key relative to cwd, else <data-dir>/shell.key', () => {
    expect(shellKeyPath('/home/u', '/data/.os2', 'keys/me.key')).toBe('/home/u/keys/me.key')
    expect(shellKeyPath('/home/u', '/data/.os2', undefined)).toBe('/data/.os2/shell.key')
  })
})
