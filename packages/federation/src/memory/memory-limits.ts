/** Largest key or vector id, characters. */
export const MAX_KEY_LENGTH = 256
/** Largest single value (canonical JSON bytes) stored in a memory. */
export const MAX_VALUE_BYTES = 64 * 1024
/** Largest vector dimension. */
export const MAX_VECTOR_DIMENSION = 4096
