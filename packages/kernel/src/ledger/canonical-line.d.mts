/** Whether `line` is byte for byte the canonical JSON of `parsed` (false: take the exact path). */
export function isCanonicalLine (line: string, parsed: unknown): boolean
/** SHA-256 (hex) of a canonical envelope line without its `hash` member, or undefined when the member is not there. */
export function lineBodyHash (line: string, claimed: string): string | undefined
