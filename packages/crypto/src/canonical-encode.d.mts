/** RFC 8785 canonical JSON of `value`, or `undefined` when something inside is not canonical JSON. */
export function encodeCanonical (value: unknown): string | undefined
/** JSON.stringify(value) for a string. */
export function quote (value: string): string
