import type { IncomingMessage, ServerResponse } from 'node:http'
import { pipeline } from 'node:stream/promises'
import { createCore, type Reply, type ServerOptions, type SiteSummary } from './site.js'
import { bodyStream } from './body.js'

/** Connect/Express-style middleware; `next` is optional so it also works as a plain `http.createServer` listener. */
export type NodeMiddleware = ((req: IncomingMessage, res: ServerResponse, next?: (error?: unknown) => void) => void) & {
  /** Reads the manifest now instead of on the first request (e.g. once the server listens). */
  warm(): Promise<SiteSummary>
}

/**
 * The Node form of {@link createHandler}: `http.createServer(createMiddleware({ root: 'dist' }))`, or
 * `app.use(createMiddleware({ root: 'dist' }))` in Express/Connect, where requests it has nothing for
 * (404, methods other than GET and HEAD) go on to `next()`.
 */
export function createMiddleware(options: ServerOptions): NodeMiddleware {
  const core = createCore(options)
  const middleware = (req: IncomingMessage, res: ServerResponse, next?: (error?: unknown) => void) => {
    const path = pathOf(req.url ?? '/')
    core
      .reply({ method: req.method ?? 'GET', path, header: (name) => header(req.headers[name]) })
      .then(async (reply) => {
        if (reply.passOn && next) {
          await closeBody(reply)
          return next()
        }
        await send(res, reply, req.method === 'HEAD')
      })
      .catch((error: unknown) => {
        if (next) return next(error)
        if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' }).end('Internal Server Error\n')
        else res.destroy()
      })
  }
  return Object.assign(middleware, { warm: () => core.warm() })
}

/** The path and query of a request target (an absolute-form target, as proxies send, is reduced to its path). */
function pathOf(target: string): string {
  if (target.startsWith('/')) return target
  try {
    const url = new URL(target)
    return url.pathname + url.search
  } catch {
    return '/'
  }
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value
}

async function closeBody(reply: Reply): Promise<void> {
  if (reply.body && !(reply.body instanceof Uint8Array)) await reply.body.file.close()
}

async function send(res: ServerResponse, reply: Reply, head: boolean): Promise<void> {
  // Validators set by earlier middleware would let a cache pair an old body with a new policy.
  if (reply.headers['Cache-Control'] === 'no-store') {
    res.removeHeader('ETag')
    res.removeHeader('Last-Modified')
  }
  res.writeHead(reply.status, reply.headers)
  const { body } = reply
  if (body === undefined || head) {
    await closeBody(reply)
    res.end()
  } else if (body instanceof Uint8Array) {
    res.end(body)
  } else {
    // A client that goes away mid-file is not an error worth reporting.
    await pipeline(bodyStream(body), res).catch(() => undefined)
  }
}
