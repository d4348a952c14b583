/**
 * A small, real static file server for browser tests.
 *
 * - Listens on 127.0.0.1 with a random port (port 0); `origin` is e.g. `http://127.0.0.1:41234`.
 * - Serves files below `dir` with correct content types; a directory URL serves its `index.html`
 *   (a directory requested without the trailing slash is redirected to it, like common static hosts,
 *   so relative URLs inside the page resolve as they would in production).
 * - 404 for anything else. Path traversal is impossible: the decoded, normalised path must stay inside
 *   the real path of `dir` (symlinks are resolved too); `..` segments, encoded slashes/backslashes and NUL
 *   bytes are rejected.
 * - Options: `headers(urlPath)` adds response headers (e.g. a CSP header) per request, `cors` adds
 *   `Access-Control-Allow-Origin: *` (for a "CDN" origin), `rewrite(urlPath, bytes)` may tamper with the
 *   bytes sent (used for CDN tampering tests).
 * - `requests` records every request path (with query) in arrival order, for assertions.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { readFile, realpath, stat } from 'node:fs/promises'
import path from 'node:path'
import type { AddressInfo } from 'node:net'
import { contentTypeOf } from '../../src/server/content-types.js'

export interface StaticServerOptions {
  /**
   * Extra response headers for a request. `urlPath` is the decoded path without query, e.g. `/docs/api/reference.html`;
   * a directory URL is reported as the file served (`/docs/guide/` -> `/docs/guide/index.html`). Also called for 404s.
   */
  headers?: (urlPath: string) => Record<string, string | undefined>
  /** Add `Access-Control-Allow-Origin: *` to every response (a CDN-like origin). */
  cors?: boolean
  /** Replace the bytes sent for a file (tampering). `urlPath` as for `headers`. */
  rewrite?: (urlPath: string, bytes: Buffer) => Buffer | Uint8Array | string
}

export interface StaticServer {
  /** `http://127.0.0.1:<port>` (no trailing slash). */
  origin: string
  /** Request paths (with query string) in arrival order. */
  requests: string[]
  close(): Promise<void>
}

/** Resolve a URL path to a file inside `root` (a real path), or null if it is not servable. */
async function resolveFile(root: string, urlPath: string): Promise<{ file: string; redirect?: undefined } | { redirect: string; file?: undefined } | null> {
  // Reject anything that could be interpreted as a separator or terminator after decoding.
  if (urlPath.includes('\0') || urlPath.includes('\\')) return null
  const segments = urlPath.split('/')
  if (segments.some((s) => s === '..' || s === '.')) return null
  const normalised = path.posix.normalize(urlPath)
  if (!normalised.startsWith('/')) return null
  let candidate = path.resolve(root, '.' + normalised)
  if (candidate !== root && !candidate.startsWith(root + path.sep)) return null

  let info
  try {
    info = await stat(candidate)
  } catch {
    return null
  }
  if (info.isDirectory()) {
    if (!urlPath.endsWith('/')) return { redirect: urlPath + '/' }
    candidate = path.join(candidate, 'index.html')
    try {
      info = await stat(candidate)
    } catch {
      return null
    }
  }
  if (!info.isFile()) return null
  // Follow symlinks and check again that the real file is inside the root.
  let real: string
  try {
    real = await realpath(candidate)
  } catch {
    return null
  }
  if (real !== root && !real.startsWith(root + path.sep)) return null
  return { file: real }
}

function send(res: ServerResponse, status: number, headers: Record<string, string | undefined>, body: Buffer | string, head: boolean) {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers)) if (value !== undefined) out[name] = value
  res.writeHead(status, { ...out, 'Content-Length': String(bytes.length) })
  res.end(head ? undefined : bytes)
}

export async function startStaticServer(dir: string, opts: StaticServerOptions = {}): Promise<StaticServer> {
  const root = await realpath(path.resolve(dir))
  const requests: string[] = []

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const rawUrl = req.url ?? '/'
    requests.push(rawUrl)
    const head = req.method === 'HEAD'
    const base: Record<string, string> = { 'Cache-Control': 'no-store' }
    if (opts.cors) base['Access-Control-Allow-Origin'] = '*'

    if (req.method === 'OPTIONS') {
      send(res, 204, { ...base, Allow: 'GET, HEAD, OPTIONS' }, '', true)
      return
    }
    if (req.method !== 'GET' && !head) {
      send(res, 405, { ...base, Allow: 'GET, HEAD, OPTIONS', 'Content-Type': 'text/plain; charset=utf-8' }, 'Method Not Allowed\n', head)
      return
    }

    const pathPart = rawUrl.split(/[?#]/, 1)[0] ?? '/'
    let urlPath: string
    try {
      // Encoded slashes would let a "segment" contain a separator; refuse them outright.
      if (/%2f|%5c|%00/i.test(pathPart)) throw new Error('encoded separator')
      urlPath = decodeURIComponent(pathPart)
    } catch {
      send(res, 400, { ...base, 'Content-Type': 'text/plain; charset=utf-8' }, 'Bad Request\n', head)
      return
    }
    if (!urlPath.startsWith('/')) urlPath = '/' + urlPath

    const found = await resolveFile(root, urlPath)
    if (found === null) {
      const extra = opts.headers?.(urlPath) ?? {}
      send(res, 404, { ...base, 'Content-Type': 'text/plain; charset=utf-8', ...extra }, 'Not Found\n', head)
      return
    }
    if (found.redirect !== undefined) {
      const query = rawUrl.slice(pathPart.length).split('#', 1)[0] ?? ''
      send(res, 301, { ...base, Location: encodeURI(found.redirect) + query }, '', head)
      return
    }

    let bytes: Buffer = await readFile(found.file)
    const servedPath = urlPath.endsWith('/') ? urlPath + 'index.html' : urlPath
    if (opts.rewrite) {
      const out = opts.rewrite(servedPath, bytes)
      bytes = typeof out === 'string' ? Buffer.from(out, 'utf8') : Buffer.from(out)
    }
    const extra = opts.headers?.(servedPath) ?? {}
    send(res, 200, { ...base, 'Content-Type': contentTypeOf(found.file), ...extra }, bytes, head)
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) {
        send(res, 500, { 'Content-Type': 'text/plain; charset=utf-8' }, `Internal Server Error\n${String(err)}\n`, req.method === 'HEAD')
      } else {
        res.destroy()
      }
    })
  })
  // Keep-alive sockets would otherwise hold close() open until the browser lets go of them.
  server.keepAliveTimeout = 1000

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  const { port } = server.address() as AddressInfo

  return {
    origin: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()))
        server.closeAllConnections()
      }),
  }
}
