/** An edit of a page's text: replace `start..end` with `text` (an insertion when they are equal). */
export interface Edit {
  start: number
  end: number
  text: string
  /** The slot of csp-seal's policy meta: its byte range (or, when `text` is empty, its position) is recorded. */
  meta?: true
}

/** Edits in the order they apply: by position; an insertion before a removal at the same place; otherwise as given. */
export function sortEdits(edits: readonly Edit[]): Edit[] {
  return [...edits].sort((a, b) => a.start - b.start || a.end - b.end)
}

/** Applies sorted, non-overlapping edits to `html`. */
export function spliceText(html: string, edits: readonly Edit[]): string {
  let text = ''
  let cursor = 0
  for (const edit of edits) {
    text += html.slice(cursor, edit.start) + edit.text
    cursor = Math.max(cursor, edit.end)
  }
  return text + html.slice(cursor)
}

/**
 * Applies sorted, non-overlapping edits of `html` to `source`, its UTF-8 bytes after `skip` bytes (a BOM):
 * untouched bytes are copied as they are, only inserted text is encoded. Also gives the sealed byte offset
 * of each of `points` (offsets in `html` that lie outside removed text; one shared with an insertion comes
 * before it) and the byte range of the edit marked `meta`.
 */
export function splice(html: string, source: Uint8Array, skip: number, edits: readonly Edit[], points: readonly number[]) {
  const ascii = source.length - skip === html.length
  const pieces: Uint8Array[] = [source.subarray(0, skip)]
  let cursor = 0
  let cursorByte = skip
  let length = skip
  const byteAt = (offset: number) => cursorByte + (ascii ? offset - cursor : Buffer.byteLength(html.slice(cursor, offset), 'utf8'))
  const copyTo = (offset: number) => {
    if (offset <= cursor) return
    const end = byteAt(offset)
    pieces.push(source.subarray(cursorByte, end))
    length += end - cursorByte
    cursor = offset
    cursorByte = end
  }
  const order = points.map((offset, index) => ({ offset, index })).sort((a, b) => a.offset - b.offset)
  const offsets = new Array<number>(points.length)
  let next = 0
  const placePoints = (before: (offset: number) => boolean) => {
    for (let point = order[next]; point && before(point.offset); point = order[++next]) {
      copyTo(point.offset)
      offsets[point.index] = length
    }
  }
  let meta: [number, number] | number = 0
  for (const edit of edits) {
    placePoints((offset) => offset < edit.start || (offset === edit.start && edit.end === edit.start))
    copyTo(edit.start)
    const text = edit.text ? Buffer.from(edit.text, 'utf8') : undefined
    if (edit.meta) meta = text ? [length, length + text.length] : length
    if (text) {
      pieces.push(text)
      length += text.length
    }
    if (edit.end > cursor) {
      cursorByte = byteAt(edit.end)
      cursor = edit.end
    }
  }
  placePoints(() => true)
  copyTo(html.length)
  return { bytes: Buffer.concat(pieces, length), offsets, meta }
}
