/**
 * Serves a fetch-style handler (`(request: Request) => Promise<Response>`) on 127.0.0.1 through node:http, the
 * way Hono's or any edge runtime's Node adapter does. `alter(urlPath, response)` may replace the response the
 * handler made: the tests use it to inject an attacker's markup into a page *after* the runtime processed it.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'

export type FetchHandler = (request: Request) => Promise<Response>

export interface FetchServer {
  origin: string
  close(): Promise<void>
}

export async function startFetchServer(handler: FetchHandler, alter?: (urlPath: string, response: Response) => Promise<Response>): Promise<FetchServer> {
  let origin = ''
  const server = createServer((req, res) => {
    const headers = new Headers()
    for (const [name, value] of Object.entries(req.headers)) if (typeof value === 'string') headers.set(name, value)
    const request = new Request(`${origin}${req.url ?? '/'}`, { method: req.method, headers })
    Promise.resolve()
      .then(async () => {
        let response = await handler(request)
        if (alter) response = await alter(new URL(request.url).pathname, response)
        const body = req.method === 'HEAD' ? undefined : Buffer.from(await response.arrayBuffer())
        // The body may have been altered: let node:http frame it.
        const sent: Record<string, string> = {}
        response.headers.forEach((value, name) => {
          if (name !== 'content-length') sent[name] = value
        })
        res.writeHead(response.status, sent)
        res.end(body)
      })
      .catch((error: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain' })
        res.end(String(error))
      })
  })
  server.keepAliveTimeout = 1000
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    origin,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}
