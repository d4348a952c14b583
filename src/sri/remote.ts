import { createHash, randomBytes } from 'node:crypto'
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import type { ResolvedConfig } from '../config.js'
import { SealError } from '../problems.js'
import { readRegularFile } from '../safe-fs.js'
import { digestsOf, integrityAccepts, type Digests } from './integrity.js'

export const LOCK_VERSION = 1

/** One pinned remote file in `csp-seal.lock.json`. */
export interface LockEntry {
  integrity: string
  /** Where the bytes came from after redirects (the same URL when there were none). */
  finalUrl: string
  redirects?: string[]
  size: number
  fetchedAt: string
}

export interface LockFile {
  version: number
  resources: Record<string, LockEntry>
}

/** The integrity a remote URL gets, or why it gets none. */
export type RemoteOutcome =
  /** `digests` of the bytes when they are at hand (fetched or cached), computed once per URL per run. */
  | { kind: 'pinned'; integrity: string; digests?: Digests; unverified?: string; noCors?: boolean }
  | { kind: 'failed'; reason: string }
  | { kind: 'changed'; locked: string; fetched: string }
  | { kind: 'off' }

/**
 * Fetches, pins and caches remote files for Subresource Integrity. The lock file is the pin: a URL in
 * it keeps its integrity, and fetched bytes that differ fail the run (possible tampering) unless the
 * user asked to update the lock. The cache only spares the network: its bytes are re-hashed on use.
 * Each distinct URL is resolved once per run; requests run a few at a time.
 */
export class RemoteIntegrity {
  private lock: LockFile = { version: LOCK_VERSION, resources: {} }
  private lockLoaded: Promise<void> | undefined
  private changed = false
  private readonly pending = new Map<string, Promise<RemoteOutcome>>()
  private active = 0
  private readonly queue: Array<() => void> = []
  private readonly lockPath: string
  private readonly cacheDir: string

  constructor(
    private readonly config: ResolvedConfig,
    cwd = process.cwd(),
    private readonly offline = false,
  ) {
    this.lockPath = resolve(cwd, config.remote.lockFile)
    this.cacheDir = resolve(cwd, config.remote.cacheDir)
  }

  /** Integrity for a URL (absolute, http or https), resolved once per run. */
  resolve(url: string): Promise<RemoteOutcome> {
    let outcome = this.pending.get(url)
    if (!outcome) {
      outcome = this.resolveOnce(url)
      this.pending.set(url, outcome)
    }
    return outcome
  }

  private async resolveOnce(url: string): Promise<RemoteOutcome> {
    if (this.config.remote.mode === 'off') return { kind: 'off' }
    // Every URL waits for the one read of the lock: a URL resolved while it is still loading must see its pin.
    await (this.lockLoaded ??= this.loadLock())
    const locked = this.lock.resources[url]
    const cached = readCache(this.cachePath(url), this.config.remote.maxBytes)
    const algorithm = this.config.integrityAlgorithm
    if (locked) {
      const digests = cached && digestsOf(cached)
      if (digests && integrityAccepts(locked.integrity, digests)) return { kind: 'pinned', integrity: locked.integrity, digests }
      if (this.config.remote.mode === 'lock-only' || this.offline) return { kind: 'pinned', integrity: locked.integrity }
    } else if (this.config.remote.mode === 'lock-only' || this.offline) {
      return { kind: 'failed', reason: `is not in the lock file ${this.config.remote.lockFile}${this.offline ? '' : ' (remote.mode is lock-only)'}` }
    }
    const fetched = await this.limited(() => fetchBytes(url, this.config.remote.timeout, this.config.remote.maxBytes))
    if (!fetched.ok) {
      // With a pin, a failed re-check is not fatal: the lock still says what the bytes must be.
      if (locked)
        return { kind: 'pinned', integrity: locked.integrity, unverified: `could not be re-checked (${fetched.reason}); the lock file's integrity was used` }
      return { kind: 'failed', reason: fetched.reason }
    }
    const digests = digestsOf(fetched.bytes)
    const integrity = `${algorithm}-${digests[algorithm]}`
    const unchanged = locked !== undefined && integrityAccepts(locked.integrity, digests) === true
    if (locked && !unchanged && !this.config.remote.updateLock) {
      return { kind: 'changed', locked: locked.integrity, fetched: integrity }
    }
    await this.writeCache(url, fetched.bytes)
    if (!unchanged || locked.integrity !== integrity) {
      this.lock.resources[url] = {
        integrity,
        finalUrl: fetched.finalUrl,
        ...(fetched.redirects.length ? { redirects: fetched.redirects } : {}),
        size: fetched.bytes.length,
        fetchedAt: new Date().toISOString(),
      }
      this.changed = true
    }
    return { kind: 'pinned', integrity, digests, noCors: !fetched.cors }
  }

  /** Writes the lock file if this run added or updated entries (call only when the whole run succeeded). */
  async save(): Promise<string | undefined> {
    if (!this.changed) return undefined
    const sorted = Object.fromEntries(Object.entries(this.lock.resources).sort(([a], [b]) => (a < b ? -1 : 1)))
    const text = `${JSON.stringify({ version: LOCK_VERSION, resources: sorted }, null, 2)}\n`
    await mkdir(dirname(this.lockPath), { recursive: true })
    const temp = `${this.lockPath}.${randomBytes(6).toString('hex')}.tmp`
    await writeFile(temp, text)
    await rename(temp, this.lockPath)
    this.changed = false
    return this.lockPath
  }

  private async loadLock(): Promise<void> {
    let text: string
    try {
      text = await readFile(this.lockPath, 'utf8')
    } catch {
      return // no lock yet
    }
    try {
      const lock = JSON.parse(text) as LockFile
      if (lock.version !== LOCK_VERSION || typeof lock.resources !== 'object') throw new Error(`unknown lock version ${lock.version}`)
      this.lock = lock
    } catch (error) {
      throw new SealError([
        {
          code: 'invalid-lock',
          file: this.lockPath,
          message: `the lock file cannot be read: ${(error as Error).message}`,
          fix: 'restore it from version control, or delete it to pin every remote file again',
        },
      ])
    }
  }

  private cachePath(url: string): string {
    return join(this.cacheDir, createHash('sha256').update(url).digest('hex'))
  }

  private async writeCache(url: string, bytes: Uint8Array): Promise<void> {
    try {
      await mkdir(this.cacheDir, { recursive: true })
      const temp = `${this.cachePath(url)}.${randomBytes(6).toString('hex')}.tmp`
      await writeFile(temp, bytes)
      await rename(temp, this.cachePath(url))
    } catch {
      // A cache that cannot be written only costs a refetch next time.
    }
  }

  private async limited<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.config.remote.concurrency) await new Promise<void>((ready) => this.queue.push(ready))
    this.active++
    try {
      return await task()
    } finally {
      this.active--
      this.queue.shift()?.()
    }
  }
}

type Fetched = { ok: true; bytes: Uint8Array; finalUrl: string; redirects: string[]; cors: boolean } | { ok: false; reason: string }

const MAX_REDIRECTS = 5

/** GET with a timeout, a size cap, a 200-only status check and redirects followed by hand (recorded, loop-safe). */
export async function fetchBytes(url: string, timeout: number, maxBytes: number): Promise<Fetched> {
  const redirects: string[] = []
  let current = url
  for (;;) {
    let response: Response
    try {
      response = await fetch(current, { redirect: 'manual', signal: AbortSignal.timeout(timeout), headers: { accept: '*/*' } })
    } catch (error) {
      const cause = (error as Error & { cause?: { code?: string; message?: string } }).cause
      if ((error as Error).name === 'TimeoutError') return { ok: false, reason: `timed out after ${timeout} ms` }
      return { ok: false, reason: `could not be fetched (${cause?.code ?? cause?.message ?? (error as Error).message})` }
    }
    if (response.status >= 300 && response.status < 400 && response.headers.has('location')) {
      await response.body?.cancel()
      const next = new URL(response.headers.get('location')!, current).href
      if (redirects.includes(next) || next === url) return { ok: false, reason: `redirects in a loop (${[url, ...redirects, next].join(' → ')})` }
      if (redirects.length >= MAX_REDIRECTS) return { ok: false, reason: `redirects more than ${MAX_REDIRECTS} times` }
      if (!/^https?:$/.test(new URL(next).protocol)) return { ok: false, reason: `redirects to a non-HTTP URL ${next}` }
      redirects.push(next)
      current = next
      continue
    }
    if (response.status !== 200) {
      await response.body?.cancel()
      return { ok: false, reason: `answered HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}` }
    }
    const declared = Number(response.headers.get('content-length'))
    if (declared > maxBytes) {
      await response.body?.cancel()
      return { ok: false, reason: `is ${declared} bytes, over the ${maxBytes}-byte limit (remote.maxBytes)` }
    }
    const chunks: Uint8Array[] = []
    let size = 0
    const reader = response.body?.getReader()
    try {
      for (let read = await reader?.read(); read && !read.done; read = await reader!.read()) {
        size += read.value.length
        if (size > maxBytes) {
          await reader!.cancel()
          return { ok: false, reason: `is over the ${maxBytes}-byte limit (remote.maxBytes)` }
        }
        chunks.push(read.value)
      }
    } catch (error) {
      if ((error as Error).name === 'TimeoutError') return { ok: false, reason: `timed out after ${timeout} ms` }
      return { ok: false, reason: `failed while downloading (${(error as Error).message})` }
    }
    return { ok: true, bytes: Buffer.concat(chunks), finalUrl: current, redirects, cors: response.headers.has('access-control-allow-origin') }
  }
}

/** A cached copy, if there is a regular file within the size limit (the cache only spares the network). */
function readCache(path: string, maxBytes: number): Uint8Array | undefined {
  try {
    return readRegularFile(path, maxBytes)
  } catch {
    return undefined
  }
}
