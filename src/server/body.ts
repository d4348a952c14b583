import type { FileHandle } from 'node:fs/promises'
import type { Readable } from 'node:stream'
import { promisify } from 'node:util'
import zlib from 'node:zlib'

export type Encoding = 'br' | 'gzip'

/** An open file to send, from `start` to `end` inclusive, compressed on the way when `encoding` is set. */
export interface FileBody {
  file: FileHandle
  start: number
  end: number
  encoding?: Encoding
}

/** Quality 4: Brotli at a cost per response close to gzip's (11, the default, is for build-time compression). */
const BROTLI_OPTIONS = { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 4 } }
const brotli = promisify(zlib.brotliCompress)
const gzip = promisify(zlib.gzip)

export function compressBytes(bytes: Uint8Array, encoding: Encoding): Promise<Buffer> {
  return encoding === 'br' ? brotli(bytes, BROTLI_OPTIONS) : gzip(bytes)
}

/** The bytes of a file body as a stream: its range, compressed on the way when asked. The stream closes the file. */
export function bodyStream(body: FileBody): Readable {
  const stream = body.file.createReadStream({ start: body.start, end: body.end })
  if (!body.encoding) return stream
  const compressor = body.encoding === 'br' ? zlib.createBrotliCompress(BROTLI_OPTIONS) : zlib.createGzip()
  stream.on('error', (error) => compressor.destroy(error))
  compressor.on('close', () => stream.destroy())
  return stream.pipe(compressor)
}
