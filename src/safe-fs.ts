import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs'
import { isAbsolute, relative, sep } from 'node:path'

/** True when `path` is strictly inside the folder `root` (both absolute; give real paths to rule out symlinks). */
export function isInside(root: string, path: string): boolean {
  const rel = relative(root, path)
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel)
}

/** Why a file of the site was not read: it leads outside the site, is not a regular file, is too large, or cannot be read. */
export type RefusalReason = 'outside-site' | 'not-a-file' | 'too-large' | 'unreadable'

/**
 * Thrown by a reader of site files for a file it will not read: one that resolves (through a symlink) outside the
 * site, a FIFO or device, one over the size limit, or one the file system refuses. Never a half-read file. The
 * message says why, as the predicate of a sentence about the file ("is a FIFO (named pipe), not a regular file").
 */
export class RefusedFile extends Error {
  constructor(
    readonly reason: RefusalReason,
    message: string,
  ) {
    super(message)
    this.name = 'RefusedFile'
  }
}

// O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused right after, by its type).
// O_NOFOLLOW: the path given is a real path; a symlink swapped in since is refused (ELOOP), not followed.
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) | (constants.O_NOFOLLOW ?? 0)

/**
 * A regular file's bytes, at most `limit` of them. The type and size are checked on the opened descriptor, so
 * a FIFO, a device (`/dev/zero`) or a file that grows while it is read is refused ({@link RefusedFile}), never
 * read without end. File system errors (ENOENT, EACCES…) are thrown as they are. Synchronous: from the page
 * cache this is cheaper than round trips through the thread pool.
 */
export function readRegularFile(path: string, limit: number): Buffer {
  const fd = openSync(path, OPEN_FLAGS)
  try {
    const stats = fstatSync(fd)
    if (!stats.isFile()) throw new RefusedFile('not-a-file', `is ${kindOf(stats)}, not a regular file`)
    if (stats.size > limit) throw new RefusedFile('too-large', `is ${stats.size} bytes, over the ${limit}-byte limit`)
    // One byte more than the size: a read that fills it means the file grew, and is read on up to the limit.
    let buffer = Buffer.allocUnsafe(stats.size + 1)
    let length = 0
    for (;;) {
      if (length === buffer.length) {
        if (length > limit) throw new RefusedFile('too-large', `grew past the ${limit}-byte limit while it was read`)
        const grown = Buffer.allocUnsafe(Math.min(limit + 1, buffer.length * 2))
        buffer.copy(grown, 0, 0, length)
        buffer = grown
      }
      const read = readSync(fd, buffer, length, buffer.length - length, null)
      if (read === 0) break
      length += read
    }
    if (length > limit) throw new RefusedFile('too-large', `grew past the ${limit}-byte limit while it was read`)
    return buffer.subarray(0, length)
  } finally {
    closeSync(fd)
  }
}

function kindOf(stats: import('node:fs').Stats): string {
  if (stats.isDirectory()) return 'a folder'
  if (stats.isFIFO()) return 'a FIFO (named pipe)'
  if (stats.isCharacterDevice() || stats.isBlockDevice()) return 'a device'
  if (stats.isSocket()) return 'a socket'
  return 'a special file'
}
