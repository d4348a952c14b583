import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { parseFragment } from 'parse5'
import { afterEach, describe, expect, it } from 'vitest'
import { resolveConfig } from '../src/config.js'
import { cspHash } from '../src/csp/hash.js'
import { findRuntimeStyles, type RuntimeStyles } from '../src/js/styles.js'
import { siteRuntimeStyles } from '../src/site/runtime-styles.js'
import { sealDirectory } from '../src/site/site.js'

const FRAMEWORKS = join(import.meta.dirname, '..', 'fixtures', 'frameworks')

function found(source: string): RuntimeStyles {
  const result = findRuntimeStyles(source)
  if (!result.parsed) throw new Error(`did not parse: ${result.message}`)
  return result
}

/** A fixture's bundle file whose name starts with `prefix` in `folder`. */
function bundle(framework: string, folder: string, prefix: string): string {
  const dir = join(FRAMEWORKS, framework, 'site', folder)
  const name = readdirSync(dir).find((entry) => entry.startsWith(prefix) && entry.endsWith('.js'))
  if (!name) throw new Error(`no ${prefix}*.js in ${dir}`)
  return readFileSync(join(dir, name), 'utf8')
}

describe('styles in real framework bundles', () => {
  it("SvelteKit's route announcer: the style attribute of its from_html template", () => {
    const styles = found(bundle('sveltekit', '_app/immutable/entry', 'app.'))
    expect([...styles.styleAttributes]).toContain(
      'position: absolute; left: 0; top: 0; clip: rect(0 0 0 0); clip-path: inset(50%); overflow: hidden; white-space: nowrap; width: 1px; height: 1px',
    )
  })

  it("VitePress: VueUse's transition-off <style> (createTextNode of a const) and Shiki's style attributes in static vnodes", () => {
    const framework = found(bundle('vitepress', 'assets/chunks', 'framework.'))
    expect([...framework.styles]).toContain(
      '*,*::before,*::after{-webkit-transition:none!important;-moz-transition:none!important;-o-transition:none!important;-ms-transition:none!important;transition:none!important}',
    )
    const page = found(bundle('vitepress', 'assets', 'markdown-examples.md.'))
    expect([...page.styleAttributes]).toContain('--shiki-light:#D73A49;--shiki-dark:#F97583;')
  })

  it("Nuxt: the error page's <style> in its useHead entries; the script entry beside it is never taken", () => {
    const dir = join(FRAMEWORKS, 'nuxt', 'site', '_nuxt')
    const error404 = readdirSync(dir)
      .filter((name) => name.endsWith('.js'))
      .map((name) => readFileSync(join(dir, name), 'utf8'))
      .find((text) => text.includes('could not be found'))!
    const styles = found(error404)
    expect([...styles.styles].some((text) => text.startsWith('*,:after,:before{border-color:var(--un-default-border-color'))).toBe(true)
    expect([...styles.styles].join('\n')).not.toContain('modulepreload')
  })

  it('Angular: component styles with %COMP% are detected, and none is hashed (their text only exists in the browser)', () => {
    const main = found(bundle('angular', '', 'main-'))
    expect(main.angularComponentStyles).toBe(true)
    expect([...main.styles].filter((text) => text.includes('%COMP%'))).toEqual([])
    // The runtime's own code that builds `_ngcontent-%COMP%` is not a component's styles.
    expect(found(bundle('angular', '', 'chunk-47DXGYEH')).angularComponentStyles).toBe(false)
    expect(found(bundle('vitepress', 'assets/chunks', 'framework.')).angularComponentStyles).toBe(false)
  })
})

describe('hand-written cases', () => {
  it('markup in string literals, template literals and tagged templates, entity-decoded', () => {
    const styles = found(`
      el.innerHTML = '<p style="color: red &amp; blue">x</p>';
      const t = \`<div><style>a > b { color: red }</style><svg><path style='fill:&#x23;fff'/></svg></div>\`;
      render(html\`<span style="margin: 0">\${name}</span>\`);
    `)
    expect([...styles.styleAttributes].sort()).toEqual(['color: red & blue', 'fill:#fff', 'margin: 0'])
    expect([...styles.styles]).toEqual(['a > b { color: red }'])
  })

  it('setAttribute with a literal or a const; createElement("style") texts in every pattern', () => {
    const styles = found(`
      const CSS = '.a{color:red}';
      const S = 'style';
      function f(doc) {
        const s = doc.createElement('style');
        s.textContent = CSS;
        let t; t = document.createElement("STYLE"); t.appendChild(document.createTextNode('.b{}'));
        const u = document.createElement('style'); u.append('.c{}');
        const v = document.createElement('style'); v.innerHTML = '.d{}' + '.e{}';
        document.head.append(Object.assign(document.createElement('style'), { textContent: \`.f{}\` }));
        doc.body.setAttribute(S, 'top: 0');
        doc.body.setAttribute('Style', "left: 0");
      }
    `)
    expect([...styles.styles].sort()).toEqual(['.a{color:red}', '.b{}', '.c{}', '.d{}.e{}', '.f{}'])
    expect([...styles.styleAttributes].sort()).toEqual(['left: 0', 'top: 0'])
  })

  it('a script in a string is never taken, nor a handler', () => {
    const styles = found(`
      el.innerHTML = '<script>alert(1)</script><img src=x onerror="alert(2)"><style>.ok{}</style>';
      const s = document.createElement('script'); s.textContent = 'alert(3)';
    `)
    expect([...styles.styles]).toEqual(['.ok{}'])
    expect([...styles.styleAttributes]).toEqual([])
    const everything = [...styles.styles, ...styles.styleAttributes].join('\n')
    expect(everything).not.toContain('alert')
  })

  it("a head manager's style entries are taken, its script entries and computed texts are not", () => {
    const styles = found(`
      const css = '.c{}';
      useHead({
        style: [{ innerHTML: '.a{}' }, { textContent: \`.b{}\` }, { children: css }, { innerHTML: theme() }, { key: 'x' }],
        script: [{ innerHTML: 'alert(1)' }],
      });
    `)
    expect([...styles.styles].sort()).toEqual(['.a{}', '.b{}', '.c{}'])
    expect([...styles.styles].join('\n')).not.toContain('alert')
  })

  it('what an expression gives is not guessed', () => {
    const styles = found(`
      function f(el, color, css) {
        el.setAttribute('style', color);
        el.setAttribute('style', 'color: ' + color);
        el.innerHTML = \`<p style="color: \${color}">a</p><p style="top: 0" title="\${color}">b</p><style>\${css}</style>\`;
        el.innerHTML = '<style>' + css + '</style>';
        const s = document.createElement('style'); s.textContent = css;
        el.style.cssText = 'color: red';
      }
    `)
    // Only the attribute whose value is all in the code.
    expect([...styles.styleAttributes]).toEqual(['top: 0'])
    expect([...styles.styles]).toEqual([])
  })

  it('a parameter or let of the same name hides an outer const', () => {
    const styles = found(`
      const CSS = '.outer{}';
      function f(CSS) { const s = document.createElement('style'); s.textContent = CSS }
      function g() { let CSS = x(); const s = document.createElement('style'); s.textContent = CSS }
      function h() { const s = document.createElement('style'); s.textContent = CSS }
    `)
    expect([...styles.styles]).toEqual(['.outer{}'])
  })

  it('a file that is not JavaScript is said so, not guessed at', () => {
    const result = findRuntimeStyles('<div style="color: red">this is HTML saved as .js</div>')
    expect(result.parsed).toBe(false)
  })
})

/** An attribute value written as markup would spell it: each character as itself or as a character reference. */
const encodedValue = fc
  .string({ unit: fc.constantFrom(...'ab :;#-()%,.!"\'&<>=/\\`${}\n\té中😀'.split(/(?:)/u)), maxLength: 40 })
  .chain((value) => fc.tuple(...[...value].map((char) => fc.constantFrom(...spellings(char)))).map((parts) => ({ value, markup: parts.join('') })))

function spellings(char: string): string[] {
  const code = char.codePointAt(0)!
  const references = [`&#${code};`, `&#x${code.toString(16)};`]
  const named: Record<string, string> = { '&': '&amp;', '"': '&quot;', '<': '&lt;', '>': '&gt;' }
  if (char === '&' || char === '"') return [...references, named[char]!]
  return [char, ...references, ...(named[char] ? [named[char]!] : [])]
}

/** `text` as a JavaScript template literal without `${…}`. */
function templateLiteral(text: string): string {
  return `\`${text.replace(/[\\`]/g, (c) => `\\${c}`).replace(/\$\{/g, '\\${')}\``
}

describe('property: a style attribute in a markup literal is found as the browser decodes it', () => {
  it('string literals and template literals, any spelling of the value', () => {
    fc.assert(
      fc.property(encodedValue, fc.boolean(), fc.constantFrom('div', 'span', 'li', 'path'), ({ value, markup }, template, tag) => {
        const html = `<section class="c"><${tag} id="x" style="${markup}">t</${tag}></section>`
        const source = `el.innerHTML = ${template ? templateLiteral(html) : JSON.stringify(html)}`
        const styles = found(source)
        // The value the HTML parser browsers follow gives the attribute, and its hash.
        const decoded = (parseFragment(html).childNodes[0] as any).childNodes[0].attrs.find((a: { name: string }) => a.name === 'style').value
        expect(decoded).toBe(value)
        expect([...styles.styleAttributes].map((text) => cspHash(text))).toEqual([cspHash(value)])
      }),
    )
  })

  it('a <style> text is found exactly as its text node holds it', () => {
    const css = fc.string({ unit: fc.constantFrom(...'ab{}:;#-<>&"\'` \n$\\/é'.split('')), maxLength: 40 }).filter((text) => !/<\/style/i.test(text))
    fc.assert(
      fc.property(css, fc.boolean(), (text, template) => {
        const html = `<div><style>${text}</style></div>`
        const styles = found(`el.innerHTML = ${template ? templateLiteral(html) : JSON.stringify(html)}`)
        expect([...styles.styles]).toEqual([text])
      }),
    )
  })
})

describe('the site: every script read once, inside the site only', () => {
  const dirs: string[] = []
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
  })

  function site(): string {
    const dir = mkdtempSync(join(tmpdir(), 'csp-seal-runtime-'))
    dirs.push(dir)
    return dir
  }

  it('hashes what scripts in nested folders insert, skips links and node_modules, warns about unparsable files', () => {
    const root = site()
    const outside = site()
    writeFileSync(join(outside, 'evil.js'), "el.setAttribute('style', 'outside: 1')")
    cpSync(join(FRAMEWORKS, 'sveltekit', 'site'), join(root, 'app'), { recursive: true })
    writeFileSync(join(root, 'index.html'), '<!doctype html><title>t</title><p>hi</p>')
    writeFileSync(join(root, 'a.mjs'), "el.setAttribute('style', 'inside: 1')")
    writeFileSync(join(root, 'broken.cjs'), 'this is not ( JavaScript')
    symlinkSync(join(outside, 'evil.js'), join(root, 'linked.js'))
    mkdirSync(join(root, 'node_modules'))
    writeFileSync(join(root, 'node_modules', 'dep.js'), "el.setAttribute('style', 'dependency: 1')")
    const result = siteRuntimeStyles(root, resolveConfig({}))
    const attributes = result.extraHashes.styleAttributes ?? []
    expect(attributes).toContain(cspHash('inside: 1'))
    expect(attributes).toContain(
      cspHash(
        'position: absolute; left: 0; top: 0; clip: rect(0 0 0 0); clip-path: inset(50%); overflow: hidden; white-space: nowrap; width: 1px; height: 1px',
      ),
    )
    expect(attributes).not.toContain(cspHash('outside: 1'))
    expect(attributes).not.toContain(cspHash('dependency: 1'))
    expect(result.warnings.map((w) => [w.code, w.file])).toEqual([['script-not-read', 'broken.cjs']])
    expect(result.counts.files).toBe(1 + 12 + 1)
  })

  it('sealDirectory puts them on every page, in style-src-attr with unsafe-hashes; runtimeStyles: false leaves them out', async () => {
    const root = site()
    writeFileSync(join(root, 'index.html'), '<!doctype html><meta charset="utf-8"><title>t</title><script src="a.js"></script>')
    writeFileSync(join(root, 'other.html'), '<!doctype html><meta charset="utf-8"><title>o</title>')
    writeFileSync(join(root, 'a.js'), "document.body.insertAdjacentHTML('beforeend', '<p style=\"color: teal\">x</p><style>p{margin:0}</style>')")
    const result = await sealDirectory(root, {}, { keepManifest: true })
    expect(result.runtimeStyles).toEqual({ files: 1, styles: 1, styleAttributes: 1 })
    for (const page of ['index.html', 'other.html']) {
      const html = readFileSync(join(root, page), 'utf8')
      const policy = parseFragment(html.slice(html.indexOf('<meta http-equiv')))
        .childNodes.map((node: any) => node.attrs?.find((a: { name: string }) => a.name === 'content')?.value)
        .find(Boolean) as string
      const directive = (name: string) =>
        policy
          .split(';')
          .map((part) => part.trim().split(/\s+/))
          .find(([first]) => first === name) ?? []
      expect(directive('style-src-attr')).toEqual(expect.arrayContaining(["'unsafe-hashes'", cspHash('color: teal')]))
      expect([...directive('style-src-elem'), ...directive('style-src')]).toContain(cspHash('p{margin:0}'))
    }
    const plain = site()
    cpSync(join(root, 'a.js'), join(plain, 'a.js'))
    writeFileSync(join(plain, 'index.html'), '<!doctype html><meta charset="utf-8"><title>t</title><script src="a.js"></script>')
    const off = await sealDirectory(plain, { runtimeStyles: false })
    expect(off.runtimeStyles).toBeUndefined()
    expect(readFileSync(join(plain, 'index.html'), 'utf8')).not.toContain(cspHash('color: teal'))
  })

  it('Angular: sealing warns with the way out', async () => {
    const root = site()
    cpSync(join(FRAMEWORKS, 'angular', 'site'), root, { recursive: true })
    const result = await sealDirectory(root, {})
    const warning = result.warnings.find((w) => w.code === 'angular-runtime-styles')
    expect(warning?.message).toContain('Angular')
    expect(warning?.fix).toContain('csp-seal serve --nonce')
    expect(warning?.fix).toContain('ngCspNonce')
  })
})
