/**
 * True when `a` and `b` are canonical JSON with the same canonical encoding
 * (`canonicalize(a) === canonicalize(b)`, neither throwing), without encoding
 * either: object members compared as sets (`undefined` members dropped),
 * arrays item by item, numbers by value (so `-0` equals `0`). False for
 * anything `canonicalize` refuses (NaN, Infinity, `undefined` in an array,
 * class instances, functions, bigints). Replay uses it to match a produced
 * event against a recorded one whose hash is already verified.
 */
export function canonicalEqual (a: unknown, b: unknown): boolean {
  switch (typeof a) {
    case 'string':
    case 'boolean':
      return a === b
    case 'number':
      return a === b && Number.isFinite(a)
    case 'object': {
      if (a === null) return b === null
      if (typeof b !== 'object' || b === null) return false
      if (Array.isArray(a)) {
        if (!Array.isArray(b) || a.length !== b.length) return false
        for (let i = 0; i < a.length; i++) {
          const x: unknown = a[i]
          if (x === undefined || !canonicalEqual(x, b[i])) return false
        }
        return true
      }
      if (Array.isArray(b) || !isPlain(a) || !isPlain(b)) return false
      const ra = a as Record<string, unknown>
      const rb = b as Record<string, unknown>
      // for-in walks V8's enum cache without allocating a key array (Object.keys did, per object per event);
      // an inherited enumerable member (a polluted prototype) answers false: the caller takes the exact path.
      let defined = 0
      for (const key in ra) {
        if (!Object.hasOwn(ra, key)) return false
        const x = ra[key]
        if (x === undefined) continue
        defined++
        if (!Object.hasOwn(rb, key) || !canonicalEqual(x, rb[key])) return false
      }
      for (const key in rb) {
        if (!Object.hasOwn(rb, key)) return false
        if (rb[key] !== undefined) defined--
      }
      return defined === 0
    }
    default:
      return false
  }
}

function isPlain (value: object): boolean {
  const proto = Object.getPrototypeOf(value) as unknown
  return proto === Object.prototype || proto === null
}
