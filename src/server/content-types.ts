import { lookup } from 'mrmime'

// What mrmime leaves out or names for Node rather than for browsers.
const OVERRIDES: Record<string, string> = { ico: 'image/x-icon', cjs: 'text/javascript' }

/** The Content-Type for a file by its extension (mrmime's table); unknown types are sent as bytes (never sniffed, see nosniff). */
export function contentTypeOf(path: string): string {
  const extension = /\.([^./]+)$/.exec(path)?.[1]?.toLowerCase() ?? ''
  const type = OVERRIDES[extension] ?? lookup(extension)
  if (!type) return 'application/octet-stream'
  return isText(type) ? `${type}; charset=utf-8` : type
}

function isText(type: string): boolean {
  return type.startsWith('text/') || /^application\/(?:javascript|json|xml|[\w.-]+\+(?:json|xml))$/.test(type)
}

/** Worth compressing: text, JSON, XML, SVG, WebAssembly (fonts, images and media are compressed already). */
export function isCompressible(type: string): boolean {
  const bare = type.split(';')[0]!
  return isText(bare) || bare === 'image/svg+xml' || bare === 'application/wasm' || bare === 'image/x-icon'
}
