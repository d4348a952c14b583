import { isAbsolute, relative, sep } from 'node:path'

/** True when `path` is strictly inside the folder `root` (both real, absolute paths). */
export function isInside(root: string, path: string): boolean {
  const rel = relative(root, path)
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel)
}
