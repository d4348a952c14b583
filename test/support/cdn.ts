import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

/** What a route answers: a body (200), or a hand-made response. */
export type Route = string | Buffer | ((res: ServerResponse) => void)

/**
 * A tiny CDN on 127.0.0.1 for remote-integrity tests: routes can be changed between requests (to
 * tamper with files), and every request is counted so tests can prove when the network was not used.
 */
export async function startCdn(routes: Record<string, Route>, { cors = true } = {}) {
  const requests: string[] = []
  const server = createServer((req, res) => {
    requests.push(req.url ?? '')
    const route = routes[req.url ?? '']
    if (cors) res.setHeader('Access-Control-Allow-Origin', '*')
    // Routes change between requests (a tampered file): no browser may answer one from a copy it kept.
    res.setHeader('Cache-Control', 'no-store')
    if (route === undefined) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found')
    } else if (typeof route === 'function') {
      route(res)
    } else {
      const type = req.url?.endsWith('.css') ? 'text/css' : 'text/javascript'
      res.writeHead(200, { 'content-type': type }).end(route)
    }
  })
  const sockets = new Set<import('node:net').Socket>()
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((ready) => server.listen(0, '127.0.0.1', ready))
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    origin,
    routes,
    requests,
    close: () =>
      new Promise<void>((done) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => done())
      }),
  }
}
