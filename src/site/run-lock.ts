import { closeSync, linkSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { SealError, type Problem } from '../problems.js'

/** The lock file a sealing run holds in the site folder, so that no second run seals the folder at the same time. */
export const RUN_LOCK = '.csp-seal-running'

/** Whether a file in the site folder is a dead run's lock moved aside while it was taken over (removed as a leftover). */
export function isStaleLockLeftover(name: string): boolean {
  return name.startsWith(`${RUN_LOCK}.`) && name.endsWith('.stale')
}

interface LockInfo {
  pid: number
  host: string
  started: string
}

export interface RunLock {
  /** Said when the lock of a run that died was taken over. */
  note?: Problem
  release(): void
}

/**
 * Takes the site folder's run lock: a file created exclusively (O_EXCL) holding this process's pid, host and start
 * time. A lock whose process is dead (on this host) is taken over, with a note; a live one is refused, naming the
 * other run. A lock from another host cannot be checked: it is refused, with the way to remove it.
 */
export function acquireRunLock(root: string): RunLock {
  const path = join(root, RUN_LOCK)
  const mine: LockInfo = { pid: process.pid, host: hostname(), started: new Date().toISOString() }
  const text = `${JSON.stringify(mine)}\n`
  let note: Problem | undefined
  for (let attempt = 0; attempt < 5; attempt++) {
    let fd: number
    try {
      fd = openSync(path, 'wx')
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
      const held = readLock(path)
      if (held === undefined) continue // removed in between: try again
      const owner = held.info
      if (owner && owner.host === mine.host && !alive(owner.pid)) {
        if (takeOver(path, held.text))
          note = {
            code: 'stale-lock',
            file: RUN_LOCK,
            message: `a run of csp-seal (pid ${owner.pid}, started ${owner.started}) ended without releasing the site folder; this run took over`,
            fix: 'nothing to do: its staging folder was cleaned up',
          }
        continue
      }
      throw new SealError([
        {
          code: 'site-locked',
          file: RUN_LOCK,
          message: owner
            ? `another csp-seal run is sealing this folder (pid ${owner.pid} on ${owner.host}, started ${owner.started}); two runs at once would undo each other's work`
            : 'another csp-seal run holds this folder (its lock file is being written, or a run died while writing it)',
          fix:
            owner && owner.host === mine.host
              ? `wait for it to finish (or stop it) and run again; if pid ${owner.pid} is not csp-seal, delete ${path}`
              : `wait for it to finish and run again; if no run is going on, delete ${path}`,
        },
      ])
    }
    try {
      writeSync(fd, text)
    } catch (error) {
      // An empty lock would hold the folder until removed by hand.
      unlinkSync(path)
      throw error
    } finally {
      closeSync(fd)
    }
    return {
      note,
      release() {
        // Only our own lock: never one another run took over (it would then be running unlocked).
        if (readLock(path)?.text === text) unlinkSync(path)
      },
    }
  }
  throw new SealError([
    {
      code: 'site-locked',
      file: RUN_LOCK,
      message: "the site folder's lock file keeps changing: other csp-seal runs are starting on it",
      fix: 'run csp-seal once at a time on a folder',
    },
  ])
}

function readLock(path: string): { text: string; info?: LockInfo } | undefined {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
  try {
    const info = JSON.parse(text) as LockInfo
    if (Number.isInteger(info.pid) && typeof info.host === 'string') return { text, info }
  } catch {
    // not (yet) complete
  }
  return { text }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: it exists, as another user's process.
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Removes a dead run's lock, unless another run took it over first: the lock is moved aside and checked, and put
 * back if it turns out to be a fresh one.
 */
function takeOver(path: string, staleText: string): boolean {
  const aside = `${path}.${process.pid}.stale`
  try {
    renameSync(path, aside)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw error
  }
  const moved = readFileSync(aside, 'utf8')
  if (moved !== staleText) {
    // Another run's fresh lock: give it back, unless yet another run has taken its place (the next attempt sees it).
    try {
      linkSync(aside, path)
    } catch {
      // EEXIST: that run holds the folder now
    } finally {
      unlinkSync(aside)
    }
    return false
  }
  unlinkSync(aside)
  return true
}
