/**
 * Markup building blocks of the generated sites: what documentation and blog generators (VitePress, Docusaurus,
 * Sphinx, Hugo) really emit — Shiki code blocks full of style attributes, tables, callouts, inline SVG icons,
 * entities, and text in several scripts (multibyte UTF-8).
 */
import type { Random } from './random.js'

const WORDS = [
  'config',
  'build',
  'page',
  'site',
  'plugin',
  'policy',
  'script',
  'style',
  'header',
  'deploy',
  'server',
  'static',
  'bundle',
  'module',
  'import',
  'export',
  'route',
  'cache',
  'token',
  'option',
  'default',
  'value',
  'theme',
  'layout',
  'render',
  'client',
  'request',
  'response',
  'hash',
  'digest',
  'folder',
  'output',
  'asset',
  'chunk',
  'worker',
  'thread',
  'stream',
  'buffer',
  'parser',
  'element',
  'attribute',
  'document',
  'browser',
  'origin',
  'domain',
  'the',
  'a',
  'of',
  'to',
  'and',
  'in',
  'is',
  'for',
  'with',
  'when',
  'each',
  'every',
  'your',
  'this',
  'that',
  'it',
  'can',
  'runs',
  'writes',
  'reads',
  'keeps',
  'loads',
  'checks',
  'adds',
  'returns',
  'uses',
  'needs',
  'before',
  'after',
]

/** Sentences in other scripts: real sites are translated, and UTF-8 hashing must get them right. */
const MULTIBYTE = [
  'Die Größe der Übersicht hängt von der Konfiguration ab.',
  'Cet élément est déjà chargé à la fin de la page.',
  '設定ファイルを編集してから、サイトを再ビルドします。',
  'Конфигурация сайта хранится в отдельном файле.',
  '构建完成后，所有页面都会被重新检查。',
  'Η πολιτική ασφαλείας εφαρμόζεται σε κάθε σελίδα.',
  'ההגדרות נשמרות בקובץ נפרד.',
  'Ship it 🚀 — then check the report ✅.',
  'São Paulo, Zürich, Kraków: naïve café façades.',
]

const SHIKI_COLORS = ['#569CD6', '#9CDCFE', '#CE9178', '#DCDCAA', '#4EC9B0', '#6A9955', '#C586C0', '#D4D4D4', '#B5CEA8']

export function words(random: Random, count: number): string {
  const out: string[] = []
  for (let i = 0; i < count; i++) out.push(random.pick(WORDS))
  return out.join(' ')
}

export function title(random: Random, localized: boolean): string {
  const text = words(random, random.int(2, 6))
  const base = text.charAt(0).toUpperCase() + text.slice(1)
  return localized && random.chance(0.6) ? `${base} — ${random.pick(MULTIBYTE).slice(0, 14)}` : base
}

function sentence(random: Random, multibyte: number): string {
  if (random.chance(multibyte)) return random.pick(MULTIBYTE)
  const text = words(random, random.int(6, 18))
  return `${text.charAt(0).toUpperCase()}${text.slice(1)}.`
}

function paragraph(random: Random, multibyte: number): string {
  const parts: string[] = []
  for (let i = random.int(2, 6); i > 0; i--) {
    let s = sentence(random, multibyte)
    const roll = random.next()
    if (roll < 0.2) s = s.replace(/ (\w+) /, ' <code>$1</code> ')
    else if (roll < 0.35) s = s.replace(/ (\w+ \w+) /, ` <a href="/docs/${random.pick(WORDS)}.html#${random.pick(WORDS)}">$1</a> `)
    else if (roll < 0.45) s = s.replace(/ (\w+) /, ' <strong>$1</strong> ')
    else if (roll < 0.55) s = `${s.slice(0, -1)} &amp; ${random.pick(WORDS)}&nbsp;${random.pick(WORDS)}&mdash;${random.pick(WORDS)}.`
    parts.push(s)
  }
  return `<p>${parts.join(' ')}</p>\n`
}

/** A Shiki-highlighted block: one style attribute per token, as VitePress and Astro emit. */
function codeBlock(random: Random): string {
  const lines: string[] = []
  for (let i = random.int(3, 24); i > 0; i--) {
    const tokens: string[] = []
    for (let j = random.int(1, 7); j > 0; j--) {
      const text = random.chance(0.15) ? `&lt;${random.pick(WORDS)}&gt;` : random.chance(0.1) ? `&quot;${random.pick(WORDS)}&quot;` : random.pick(WORDS)
      tokens.push(`<span style="color:${random.pick(SHIKI_COLORS)}">${text}</span>`)
    }
    lines.push(`<span class="line">${tokens.join('<span style="color:#D4D4D4"> </span>')}</span>`)
  }
  const lang = random.pick(['ts', 'js', 'sh', 'json', 'html', 'css'])
  return (
    `<div class="language-${lang} vp-adaptive-theme"><button title="Copy Code" class="copy"></button><span class="lang">${lang}</span>` +
    `<pre class="shiki dark-plus vp-code" style="background-color:#1E1E1E;color:#D4D4D4" tabindex="0"><code>${lines.join('\n')}</code></pre></div>\n`
  )
}

function heading(random: Random): string {
  const level = random.int(2, 3)
  const id = `${random.pick(WORDS)}-${random.int(1, 999)}`
  return `<h${level} id="${id}" tabindex="-1">${title(random, false)} <a class="header-anchor" href="#${id}" aria-label="Permalink to this section">&ZeroWidthSpace;</a></h${level}>\n`
}

function table(random: Random, multibyte: number): string {
  const columns = random.int(2, 5)
  const rows: string[] = []
  for (let r = random.int(2, 12); r > 0; r--) {
    const cells: string[] = []
    for (let c = 0; c < columns; c++) {
      const align = c === columns - 1 ? ' style="text-align:right"' : ''
      cells.push(
        `<td${align}>${c === 0 ? `<code>${random.pick(WORDS)}</code>` : random.chance(multibyte) ? random.pick(MULTIBYTE).slice(0, 12) : words(random, random.int(1, 5))}</td>`,
      )
    }
    rows.push(`<tr>${cells.join('')}</tr>`)
  }
  const head = Array.from({ length: columns }, (_, c) => `<th${c === columns - 1 ? ' style="text-align:right"' : ''}>${random.pick(WORDS)}</th>`).join('')
  return `<table>\n<thead><tr>${head}</tr></thead>\n<tbody>\n${rows.join('\n')}\n</tbody>\n</table>\n`
}

function list(random: Random, multibyte: number): string {
  const items: string[] = []
  for (let i = random.int(2, 9); i > 0; i--) items.push(`<li>${sentence(random, multibyte)}</li>`)
  const tag = random.chance(0.3) ? 'ol' : 'ul'
  return `<${tag}>\n${items.join('\n')}\n</${tag}>\n`
}

function callout(random: Random, multibyte: number): string {
  const kind = random.pick(['tip', 'info', 'warning', 'danger', 'details'])
  return `<div class="${kind} custom-block"><p class="custom-block-title">${kind.toUpperCase()}</p>${paragraph(random, multibyte)}</div>\n`
}

function figure(random: Random): string {
  const width = random.int(320, 1280)
  const height = Math.round(width * random.pick([0.5, 0.5625, 0.75, 1]))
  return (
    `<figure style="max-width:${random.int(40, 100)}%"><img src="/images/${random.pick(WORDS)}-${random.int(1, 400)}.webp" alt="${words(random, 3)}" width="${width}" height="${height}" loading="lazy" decoding="async" style="aspect-ratio:${width}/${height}">` +
    `<figcaption>${words(random, random.int(3, 9))}</figcaption></figure>\n`
  )
}

function progress(random: Random): string {
  const bars: string[] = []
  for (let i = random.int(2, 6); i > 0; i--)
    bars.push(`<div class="bar"><span style="width:${random.int(1, 100)}%;--delay:${random.int(0, 8) * 60}ms"></span>${random.pick(WORDS)}</div>`)
  return `<div class="bars">${bars.join('')}</div>\n`
}

export function svgIcon(random: Random): string {
  const d = Array.from({ length: random.int(2, 6) }, () => `M${random.int(0, 24)} ${random.int(0, 24)}l${random.int(-9, 9)} ${random.int(-9, 9)}`).join('')
  return `<svg xmlns="http://www.w3.org/2000/svg" width="20" height="20" viewBox="0 0 24 24" aria-hidden="true" fill="none" stroke="currentColor"><path stroke-linecap="round" d="${d}"/></svg>`
}

/** An inline SVG with its own `<style>`, as design tools export it: foreign content, so a CSP style too. */
export function svgWithStyle(random: Random): { markup: string; style: string } {
  const fill = random.pick(['#0a7', '#3451b2', '#e44', '#fa0'])
  const style = `.st0{fill:${fill}}.st1{fill:none;stroke:#333;stroke-width:2}`
  return {
    markup: `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64" class="illustration"><style>${style}</style><circle class="st0" cx="32" cy="32" r="${random.int(8, 30)}"/><path class="st1" d="M8 56L56 8"/></svg>\n`,
    style,
  }
}

/** One block of article content; sizes vary from ~100 bytes to ~4 KB. */
export function contentBlock(random: Random, multibyte: number): string {
  const roll = random.next()
  if (roll < 0.36) return paragraph(random, multibyte)
  if (roll < 0.5) return heading(random)
  if (roll < 0.68) return codeBlock(random)
  if (roll < 0.76) return table(random, multibyte)
  if (roll < 0.84) return list(random, multibyte)
  if (roll < 0.9) return callout(random, multibyte)
  if (roll < 0.96) return figure(random)
  return progress(random)
}

/** ASCII filler of exactly `bytes` bytes (a paragraph), so a page hits its target size. */
export function filler(random: Random, bytes: number): string {
  const open = '<p class="filler">'
  const close = '</p>\n'
  let text = ''
  while (text.length < bytes - open.length - close.length) text += `${random.pick(WORDS)} `
  return `${open}${text.slice(0, Math.max(0, bytes - open.length - close.length))}${close}`
}

export { MULTIBYTE, WORDS }
