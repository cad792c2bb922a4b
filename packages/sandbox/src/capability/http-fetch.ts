import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'

/** What a `net.fetch` records in the ledger (and what Python's `os2.fetch` sees). */
export interface FetchResult {
  [key: string]: string | number | boolean | Record<string, string>
  status: number
  headers: Record<string, string>
  /** The body as UTF-8 text, or base64 when `encoding` is `base64`. */
  body: string
  encoding: 'utf8' | 'base64'
  /** True when the body was cut at `maxBodyBytes`. */
  truncated: boolean
}

export interface FetchInit {
  method?: string
  headers?: Record<string, string>
  body?: string | null
  /** Largest body kept (default 256 KiB). */
  maxBodyBytes?: number
  timeoutMs?: number
}

/** Response headers kept in the record; the rest (dates, server ids) would only add noise. */
const KEPT_HEADERS = new Set(['content-type', 'content-length', 'content-encoding', 'location', 'etag', 'last-modified'])

/**
 * Parses a URL for `net.fetch`: http or https only.
 *
 * @throws Error when the URL is not an absolute http(s) URL
 */
export function parseFetchUrl (url: string): URL {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new Error(`Invalid URL ${JSON.stringify(url)}`)
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error(`Unsupported URL scheme ${parsed.protocol} (http and https only)`)
  return parsed
}

/** The host part a grant's `hosts` allow-list is checked against (no port, no IPv6 brackets). */
export function fetchHost (url: URL): string {
  return url.hostname.replace(/^\[|\]$/g, '').toLowerCase()
}

/**
 * One real HTTP request, done by the parent (never by the sandbox child).
 * The caller has already checked the host against the grant.
 *
 * @example
 * const r = await httpFetch(new URL('http://127.0.0.1:8080/x'))
 */
export async function httpFetch (url: URL, init: FetchInit = {}): Promise<FetchResult> {
  const maxBody = init.maxBodyBytes ?? 256 * 1024
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest
  return await new Promise<FetchResult>((resolve, reject) => {
    const req = request(url, { method: init.method ?? 'GET', headers: init.headers ?? {}, timeout: init.timeoutMs ?? 10_000 }, (res) => {
      const chunks: Buffer[] = []
      let size = 0
      let truncated = false
      res.on('data', (chunk: Buffer) => {
        if (size >= maxBody) { truncated = true; return }
        const take = chunk.subarray(0, maxBody - size)
        if (take.length < chunk.length) truncated = true
        chunks.push(take)
        size += take.length
      })
      res.on('error', reject)
      res.on('end', () => {
        const bytes = Buffer.concat(chunks)
        const text = bytes.toString('utf8')
        const isText = Buffer.from(text, 'utf8').equals(bytes)
        const headers: Record<string, string> = {}
        for (const [k, v] of Object.entries(res.headers)) {
          if (KEPT_HEADERS.has(k) && v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v
        }
        resolve({
          status: res.statusCode ?? 0,
          headers,
          body: isText ? text : bytes.toString('base64'),
          encoding: isText ? 'utf8' : 'base64',
          truncated
        })
      })
    })
    req.on('timeout', () => { req.destroy(new Error(`Request to ${url.host} timed out`)) })
    req.on('error', reject)
    if (init.body !== undefined && init.body !== null) req.write(init.body)
    req.end()
  })
}
