import { Readable } from 'node:stream'
import { createCore, type Reply, type ServerOptions, type SiteSummary } from './site.js'
import { bodyStream } from './body.js'

/** A fetch-style handler: Hono, Bun/Deno-style servers, edge adapters, Electron's `protocol.handle`. */
export type FetchHandler = ((request: Request) => Promise<Response>) & {
  /** Reads the manifest now instead of on the first request. */
  warm(): Promise<SiteSummary>
}

/**
 * Serves a sealed site: every HTML page with a fresh nonce (or hash-only, see `nonce`), other files with
 * their content type, ranges, validators and compression, 404 for anything else.
 *
 * ```ts
 * const handler = createHandler({ root: 'dist' })
 * app.get('*', (c) => handler(c.req.raw)) // Hono
 * ```
 */
export function createHandler(options: ServerOptions): FetchHandler {
  const core = createCore(options)
  const handler = async (request: Request) => {
    // The URL parser has already resolved dot segments (also %2e%2e); the core checks the rest.
    const url = new URL(request.url)
    const reply = await core.reply({ method: request.method, path: url.pathname + url.search, header: (name) => request.headers.get(name) ?? undefined })
    return toResponse(reply, request.method === 'HEAD')
  }
  return Object.assign(handler, { warm: () => core.warm() })
}

async function toResponse(reply: Reply, head: boolean): Promise<Response> {
  const { body } = reply
  let payload: BodyInit | null = null
  if (body instanceof Uint8Array) {
    if (!head) payload = body as Uint8Array<ArrayBuffer>
  } else if (body) {
    if (head) await body.file.close()
    else payload = Readable.toWeb(bodyStream(body)) as unknown as ReadableStream<Uint8Array>
  }
  return new Response(payload, { status: reply.status, headers: reply.headers })
}
