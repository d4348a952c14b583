/**
 * A reverse proxy on 127.0.0.1 in front of a test server, so that every engine reports its CSP violations the same
 * way: as `report-uri` reports sent to the proxy. (WebKit's WebDriver cannot run a script before the page's own, so a
 * `securitypolicyviolation` listener is not available in every engine; reports are.)
 *
 * What the proxy changes on the way, and why it changes nothing the policy decides:
 * - A page served with a `Content-Security-Policy` header gets `report-uri` added to each policy of that header
 *   (and any `report-to` removed, so that reports come now, to us, and not batched through the Reporting API).
 *   Reporting directives never change what a policy blocks.
 * - A page whose only policy is a `<meta>` (a static host without header files) gets a
 *   `Content-Security-Policy-Report-Only` copy of each meta policy (children of `<head>`, as browsers read them) with
 *   `report-uri`. A report-only policy blocks nothing: the meta alone decides; its copy reports what it decides.
 * - Every page gets one more report-only policy, `img-src 'none'`, reporting elsewhere: the sentinel. To know that
 *   every report of a visit has arrived, the harness loads an image whose report is the last thing the page sends
 *   ({@link ReportingProxy.barrier}). Reports are sent as their violations happen, so waiting for the sentinel's
 *   is waiting for an event, not for a number of seconds.
 * Bodies are passed on byte for byte; the upstream's response headers are recorded as the upstream sent them.
 *
 * Reports are filed by visit: `begin()` starts a visit, and every page served from then on reports to that visit's
 * address, so a late report of an earlier visit's document is never counted in a later one.
 */
import { createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { parse, type DefaultTreeAdapterMap } from 'parse5'

/**
 * A CSP violation report, in one shape for every engine (fields an engine leaves out are '' or 0): something the
 * page's enforced policy blocked (reported by that policy, or by its report-only copy).
 */
export interface Report {
  /** `script-src-elem`, `style-src-attr`, … */
  effectiveDirective: string
  violatedDirective: string
  /** `inline`, `eval`, or the blocked URL. */
  blockedURI: string
  documentURI: string
  sourceFile: string
  lineNumber: number
  /** The start of the blocked code, when the policy has `'report-sample'`. */
  sample: string
  originalPolicy: string
}

/** A response the upstream sent, with its headers as sent (names in lower case). */
export interface LoggedResponse {
  method: string
  /** Path and query, as requested. */
  path: string
  status: number
  headers: IncomingHttpHeaders
  html: boolean
}

/** What one visit's documents sent back. */
export interface VisitLog {
  id: number
  reports: Report[]
  responses: LoggedResponse[]
}

export interface ReportingProxy {
  /** `http://127.0.0.1:<port>`: load pages from here. */
  origin: string
  /** Starts a visit: pages served from now on report to it. */
  begin(): VisitLog
  /**
   * Resolves once every report the current document has sent so far has arrived. `load(url)` must make the page
   * request the image `url` (the harness runs it in the page through the engine's driver).
   */
  barrier(load: (url: string) => Promise<void>): Promise<void>
  close(): Promise<void>
}

const PREFIX = '/__csp-seal-test/'
/** How long a barrier may take before the harness gives up: a hang guard, never what decides a result. */
const BARRIER_GUARD_MS = 60_000

export async function startReportingProxy(upstream: string): Promise<ReportingProxy> {
  const target = new URL(upstream)
  const visits: VisitLog[] = []
  let current: VisitLog = { id: 0, reports: [], responses: [] }
  visits.push(current)
  const sentinels = new Map<number, () => void>()
  let sentinelCount = 0
  let origin = ''

  const handleOwn = async (req: IncomingMessage, res: ServerResponse, path: string) => {
    const [kind, id] = path.slice(PREFIX.length).split('/')
    if (req.method === 'POST' && (kind === 'report' || kind === 'sentinel')) {
      const body = await readBody(req)
      res.writeHead(204).end()
      const report = parseReport(body)
      if (!report) return
      if (kind === 'sentinel') {
        const n = /\/__csp-seal-test\/sentinel-image\/(\d+)/.exec(report.blockedURI)?.[1]
        if (n !== undefined) sentinels.get(Number(n))?.()
        return
      }
      // A page whose own policy restricts images also reports the sentinel image: it is the harness's, not the page's;
      // and Firefox checks its own request for /favicon.ico (one the page never makes) against the page's policy.
      if (report.blockedURI.includes(PREFIX) || new URL(report.blockedURI, origin).pathname === '/favicon.ico') return
      visits.find((v) => v.id === Number(id))?.reports.push(report)
      return
    }
    // The sentinel image itself: allowed by the page's policies or not, it is only there to be reported.
    res.writeHead(204, { 'Cache-Control': 'no-store' }).end()
  }

  const forward = async (req: IncomingMessage, res: ServerResponse, path: string) => {
    const visit = current
    const headers: Record<string, string | string[] | undefined> = { ...req.headers, host: target.host }
    // Plain bodies: the proxy reads the policy metas of pages.
    delete headers['accept-encoding']
    const body = req.method === 'GET' || req.method === 'HEAD' ? undefined : await readBody(req)
    const upstreamRes = await new Promise<IncomingMessage>((resolve, reject) => {
      const out = httpRequest({ host: target.hostname, port: target.port, method: req.method, path, headers }, resolve)
      out.on('error', reject)
      out.end(body)
    })
    const bytes = await readBody(upstreamRes)
    const status = upstreamRes.statusCode ?? 502
    const html = /^text\/html\b/i.test(String(upstreamRes.headers['content-type'] ?? ''))
    visit.responses.push({ method: req.method ?? 'GET', path, status, headers: { ...upstreamRes.headers }, html })

    const sent: Record<string, string | string[]> = {}
    for (const [name, value] of Object.entries(upstreamRes.headers)) {
      if (value === undefined || HOP_BY_HOP.has(name)) continue
      sent[name] = name === 'location' && typeof value === 'string' ? value.replace(upstream, origin) : value
    }
    if (html) {
      const reportTo = `${PREFIX}report/${visit.id}`
      const enforced = [upstreamRes.headers['content-security-policy'] ?? []].flat().join(', ') || undefined
      const reportOnly = [upstreamRes.headers['content-security-policy-report-only'] ?? []].flat()
      if (enforced !== undefined) sent['content-security-policy'] = withReportUri(enforced, reportTo)
      else reportOnly.push(...metaPolicies(bytes.toString('utf8')).map((policy) => withReportUri(policy, reportTo)))
      reportOnly.push(`img-src 'none'; report-uri ${PREFIX}sentinel`)
      sent['content-security-policy-report-only'] = reportOnly
    }
    sent['content-length'] = String(bytes.length)
    res.writeHead(status, sent)
    res.end(req.method === 'HEAD' ? undefined : bytes)
  }

  const server = createServer((req, res) => {
    const path = req.url ?? '/'
    const handled = path.startsWith(PREFIX) ? handleOwn(req, res, path) : forward(req, res, path)
    handled.catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(502, { 'Content-Type': 'text/plain' })
      res.end(`reporting proxy: ${String(error)}\n`)
    })
  })
  server.keepAliveTimeout = 1000
  const sockets = new Set<Socket>()
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

  return {
    origin,
    begin() {
      current = { id: visits.length, reports: [], responses: [] }
      visits.push(current)
      return current
    },
    async barrier(load) {
      const n = ++sentinelCount
      const arrived = new Promise<void>((resolve, reject) => {
        const guard = setTimeout(
          () => reject(new Error(`no report came back for the sentinel image within ${BARRIER_GUARD_MS / 1000} s: is the page served through ${origin}?`)),
          BARRIER_GUARD_MS,
        )
        sentinels.set(n, () => {
          clearTimeout(guard)
          resolve()
        })
      })
      try {
        await load(`${origin}${PREFIX}sentinel-image/${n}`)
        await arrived
      } finally {
        sentinels.delete(n)
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      }),
  }
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'proxy-connection', 'upgrade'])

function readBody(stream: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    stream.on('data', (chunk: Buffer) => chunks.push(chunk))
    stream.on('end', () => resolve(Buffer.concat(chunks)))
    stream.on('error', reject)
  })
}

/** Each policy of a header value (policies are separated by commas) with `report-uri` set and `report-to` removed. */
export function withReportUri(header: string, uri: string): string {
  return header
    .split(',')
    .map((policy) => {
      const directives = policy
        .split(';')
        .map((d) => d.trim())
        .filter((d) => d && !/^report-(uri|to)(\s|$)/i.test(d))
      return [...directives, `report-uri ${uri}`].join('; ')
    })
    .join(', ')
}

type Node = DefaultTreeAdapterMap['node']
type Element = DefaultTreeAdapterMap['element']

/** The `content` of each `<meta http-equiv="Content-Security-Policy">` that is a child of `<head>` (the ones browsers apply). */
export function metaPolicies(html: string): string[] {
  const document = parse(html)
  const root = document.childNodes.find((n): n is Element => n.nodeName === 'html')
  const head = root?.childNodes.find((n): n is Element => n.nodeName === 'head')
  const policies: string[] = []
  for (const node of (head?.childNodes ?? []) as Node[]) {
    if (node.nodeName !== 'meta') continue
    const attrs = new Map((node as Element).attrs.map((a) => [a.name, a.value]))
    if (attrs.get('http-equiv')?.toLowerCase() === 'content-security-policy' && attrs.has('content')) policies.push(attrs.get('content')!)
  }
  return policies
}

/** The report in a `report-uri` body (Chromium, Firefox and WebKit all send `{"csp-report": {…}}`), or undefined. */
function parseReport(body: Buffer): Report | undefined {
  let json: unknown
  try {
    json = JSON.parse(body.toString('utf8'))
  } catch {
    return undefined
  }
  const raw = (json as { 'csp-report'?: Record<string, unknown> })?.['csp-report']
  if (!raw || typeof raw !== 'object') return undefined
  const text = (name: string) => (typeof raw[name] === 'string' ? (raw[name] as string) : '')
  const violated = text('violated-directive')
  return {
    effectiveDirective: text('effective-directive') || violated.split(' ')[0]!,
    violatedDirective: violated,
    blockedURI: text('blocked-uri'),
    documentURI: text('document-uri'),
    sourceFile: text('source-file'),
    lineNumber: typeof raw['line-number'] === 'number' ? raw['line-number'] : 0,
    sample: text('script-sample'),
    originalPolicy: text('original-policy'),
  }
}
