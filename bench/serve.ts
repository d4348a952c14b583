/**
 * `npm run bench:serve`: how fast `csp-seal serve` starts, and what it holds under load, on a generated site.
 *
 *   npm run bench:serve                              1,000 pages; 5 starts; 200 connections for 30 s
 *   npm run bench:serve -- --pages 10000 --starts 3 --connections 100 --duration 10
 *
 * Start-up (median of the starts): from spawning `node …/bin.js serve <site> --nonce` to the port accepting a
 * connection, to the first page answered (the manifest is read on the way), and to the banner; in wall time
 * and in the server process's CPU time, which a busy machine does not inflate. Load: autocannon
 * in this process against the server in its own process on 127.0.0.1, cycling over pages; every response's
 * nonce is collected, and the run reports how many were not 200, errors, and whether any nonce came twice.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { cp, readdir, readFile, rm } from 'node:fs/promises'
import { connect, createServer, type AddressInfo } from 'node:net'
import { cpus, loadavg } from 'node:os'
import { join } from 'node:path'
import autocannon from 'autocannon'
import { buildEngine, REPO } from './engine.js'
import { BENCH_ROOT, DEFAULT_SITE, ensureCorpus } from './generate.js'

interface Args {
  pages: number
  starts: number
  connections: number
  duration: number
  json: boolean
}

function parseArgs(argv: string[]): Args {
  const args: Args = { pages: 1000, starts: 5, connections: 200, duration: 30, json: false }
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!
    const number = () => {
      const n = Number(argv[++i])
      if (!(n > 0)) throw new Error(`${flag} needs a positive number`)
      return n
    }
    if (flag === '--pages') args.pages = number()
    else if (flag === '--starts') args.starts = number()
    else if (flag === '--connections') args.connections = number()
    else if (flag === '--duration') args.duration = number()
    else if (flag === '--json') args.json = true
    else throw new Error(`unknown option ${flag}; see the comment at the top of bench/serve.ts`)
  }
  return args
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1]!

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

const accepts = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })

function startServer(bin: string, site: string, port: number): { child: ChildProcess; banner: Promise<number>; started: number } {
  const started = performance.now()
  const child = spawn(process.execPath, [bin, 'serve', site, '--nonce', '--port', String(port)], {
    env: { ...process.env, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const banner = new Promise<number>((resolve, reject) => {
    let out = ''
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk
      if (out.includes('127.0.0.1:')) resolve(performance.now() - started)
    })
    child.once('exit', (code) => reject(new Error(`csp-seal serve exited with ${code}: ${out}`)))
  })
  return { child, banner, started }
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGTERM')
  await exited
}

/**
 * CPU time a process has used so far (user + system, from /proc; 10 ms ticks): unlike wall time, it does not
 * grow when other work on the machine delays the process.
 */
async function cpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100
}

interface Start {
  listening: number
  firstPage: number
  banner: number
  listeningCpu: number
  firstPageCpu: number
}

async function measureStart(bin: string, site: string, page: string): Promise<Start> {
  const port = await freePort()
  const { child, banner, started } = startServer(bin, site, port)
  try {
    while (!(await accepts(port))) await new Promise((resolve) => setTimeout(resolve, 2))
    const listening = performance.now() - started
    const listeningCpu = await cpuMs(child.pid!)
    const res = await fetch(`http://127.0.0.1:${port}/${page}`)
    await res.arrayBuffer()
    if (res.status !== 200) throw new Error(`/${page} answered ${res.status}`)
    const firstPage = performance.now() - started
    const firstPageCpu = await cpuMs(child.pid!)
    return { listening, firstPage, banner: await banner, listeningCpu, firstPageCpu }
  } finally {
    await stop(child)
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2))
  const log = (line: string) => process.stderr.write(`${line}\n`)
  log(
    `csp-seal serve bench on ${cpus().length}× ${cpus()[0]?.model}, Node ${process.version}; load average ${loadavg()
      .map((n) => n.toFixed(2))
      .join(' ')}`,
  )
  buildEngine('build', log)
  const bin = join(REPO, 'bench', 'out', 'build', 'src', 'cli', 'bin.js')
  const corpus = await ensureCorpus({ ...DEFAULT_SITE, pages: args.pages }, log)
  const site = join(BENCH_ROOT, `serve-${process.pid}`)
  try {
    await cp(corpus.site, site, { recursive: true })
    log(`sealing a copy of the ${args.pages.toLocaleString('en-US')}-page site…`)
    const sealed = spawnSync(process.execPath, [bin, site, '--remote', 'off', '--quiet'], { encoding: 'utf8' })
    if (sealed.status !== 0) throw new Error(`sealing failed: ${sealed.stderr}`)
    const pages = (await readdir(site, { recursive: true }))
      .filter((file) => file.endsWith('.html'))
      .sort()
      .slice(0, 50)

    log(`start-up, ${args.starts} runs…`)
    const starts: Start[] = []
    for (let i = 0; i < args.starts; i++) starts.push(await measureStart(bin, site, pages[0]!))
    const startup = Object.fromEntries(
      (['listening', 'firstPage', 'banner', 'listeningCpu', 'firstPageCpu'] as const).map((key) => [key, median(starts.map((start) => start[key]))]),
    ) as unknown as Start

    log(`load: ${args.connections} connections for ${args.duration} s over ${pages.length} pages…`)
    const port = await freePort()
    const { child, banner } = startServer(bin, site, port)
    await banner
    const nonces = new Set<string>()
    let responses = 0
    let withoutNonce = 0
    const onResponse = (status: number, _body: string, _context: unknown, headers: Record<string, string | string[]>) => {
      responses++
      const policy = headers['Content-Security-Policy'] ?? headers['content-security-policy']
      const nonce = typeof policy === 'string' ? /'nonce-([^']+)'/.exec(policy)?.[1] : undefined
      if (status === 200 && nonce) nonces.add(nonce)
      else withoutNonce++
    }
    let result: autocannon.Result
    try {
      result = await autocannon({
        url: `http://127.0.0.1:${port}`,
        connections: args.connections,
        duration: args.duration,
        requests: pages.map((page) => ({ method: 'GET', path: `/${page}`, onResponse })) as autocannon.Request[],
      })
    } finally {
      await stop(child)
    }
    const load = {
      connections: args.connections,
      seconds: args.duration,
      requests: result.requests.total,
      requestsPerSecond: result.requests.average,
      throughputMBps: result.throughput.average / 1e6,
      latencyMs: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max },
      non2xx: result.non2xx,
      errors: result.errors,
      timeouts: result.timeouts,
      responsesSeen: responses,
      withoutNonce,
      distinctNonces: nonces.size,
      everyNonceDistinct: nonces.size === responses - withoutNonce,
    }
    const report = {
      machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version, loadAverageAtEnd: loadavg() },
      pages: args.pages,
      htmlBytes: corpus.htmlBytes,
      startup,
      load,
    }
    if (args.json) {
      console.log(JSON.stringify(report, null, 2))
      return
    }
    const ms = (n: number) => `${n.toFixed(0)} ms`
    console.log(
      `\ncsp-seal serve --nonce, ${args.pages.toLocaleString('en-US')} pages (${(corpus.htmlBytes / 1e6).toFixed(0)} MB of HTML), median of ${args.starts} starts:`,
    )
    console.log(
      `  wall time from spawning node: listening ${ms(startup.listening)}, first page served ${ms(startup.firstPage)}, banner printed ${ms(startup.banner)}`,
    )
    console.log(
      `  CPU time of the server process: ${ms(startup.listeningCpu)} to listen, ${ms(startup.firstPageCpu)} to have served the first page (Node's own start included)`,
    )
    console.log(`load, ${load.connections} connections for ${load.seconds} s on 127.0.0.1 (autocannon in the same machine):`)
    console.log(
      `  ${load.requests.toLocaleString('en-US')} responses, ${load.requestsPerSecond.toFixed(0)} req/s, ${load.throughputMBps.toFixed(1)} MB/s; latency p50 ${load.latencyMs.p50} ms, p99 ${load.latencyMs.p99} ms`,
    )
    console.log(`  not 200: ${load.non2xx}, errors: ${load.errors}, timeouts: ${load.timeouts}, without a nonce: ${load.withoutNonce}`)
    console.log(
      `  distinct nonces: ${load.distinctNonces.toLocaleString('en-US')} of ${(responses - withoutNonce).toLocaleString('en-US')} nonced responses${load.everyNonceDistinct ? ' (every one distinct)' : ' — SOME NONCE CAME TWICE'}`,
    )
  } finally {
    await rm(site, { recursive: true, force: true })
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error)
  process.exit(1)
})
