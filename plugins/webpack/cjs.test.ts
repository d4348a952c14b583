/**
 * `require('csp-seal/webpack')` from CommonJS, for real: the plugin is compiled as the package ships it
 * (tsc → dist/), laid out as an installed package (package.json + dist) in a consumer project's node_modules,
 * and a CommonJS webpack build script and an ESM one run in plain `node` child processes (no vitest in between).
 * The package is ESM only; Node 20.19+ loads it from require() without flags.
 */
import { execFile } from 'node:child_process'
import { cp, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { tempDir } from '../../test/support/webpack-app.js'

const run = promisify(execFile)
const ROOT = fileURLToPath(new URL('../..', import.meta.url))

describe('csp-seal/webpack from CommonJS and ESM consumers', () => {
  let dir: string
  let app: string

  beforeAll(async () => {
    dir = await tempDir('cjs')
    const pkg = join(dir, 'pkg')
    // Compile only what the plugin needs, as `npm run build` does, into the package's dist.
    const tsconfig = join(dir, 'tsconfig.json')
    await writeFile(
      tsconfig,
      JSON.stringify({
        extends: join(ROOT, 'tsconfig.build.json'),
        compilerOptions: { rootDir: ROOT, outDir: join(pkg, 'dist'), sourceMap: false, declaration: false },
        files: [join(ROOT, 'plugins/webpack/index.ts'), join(ROOT, 'plugins/webpack/nonce-bootstrap.ts')],
        include: [],
      }),
    )
    await run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', tsconfig], { cwd: ROOT })
    await cp(join(ROOT, 'package.json'), join(pkg, 'package.json'))
    await symlink(join(ROOT, 'node_modules'), join(pkg, 'node_modules'), 'dir')

    // The consumer project: csp-seal installed next to webpack and html-webpack-plugin.
    app = join(dir, 'app')
    await mkdir(join(app, 'node_modules'), { recursive: true })
    await symlink(pkg, join(app, 'node_modules', 'csp-seal'), 'dir')
    for (const name of ['webpack', 'html-webpack-plugin']) await symlink(join(ROOT, 'node_modules', name), join(app, 'node_modules', name), 'dir')
    await mkdir(join(app, 'src'))
    await writeFile(join(app, 'src', 'index.js'), "window.__ran = (window.__ran || []).concat('main')\n")
    await writeFile(
      join(app, 'src', 'page.html'),
      '<!doctype html><html><head><meta charset="utf-8"><title>cjs</title><script>window.__ran = ["inline"]</script></head><body></body></html>\n',
    )
    await writeFile(
      join(app, 'webpack.config.cjs'),
      `
const path = require('node:path')
const HtmlWebpackPlugin = require('html-webpack-plugin')
const { CspSealPlugin } = require('csp-seal/webpack')
module.exports = {
  mode: 'production',
  context: __dirname,
  entry: './src/index.js',
  output: { path: path.join(__dirname, 'dist'), clean: true },
  plugins: [new HtmlWebpackPlugin({ template: './src/page.html' }), new CspSealPlugin({ nonce: true })],
}
`,
    )
    await writeFile(
      join(app, 'build.cjs'),
      `
const webpack = require('webpack')
const config = require('./webpack.config.cjs')
webpack(config).run((error, stats) => {
  if (error) throw error
  const { errors, warnings } = stats.toJson({ all: false, errors: true, warnings: true })
  console.log(JSON.stringify({ errors: errors.map((e) => e.message), warnings: warnings.map((w) => w.message) }))
})
`,
    )
    await writeFile(
      join(app, 'import.mjs'),
      `
import { CspSealPlugin } from 'csp-seal/webpack'
import * as cjsView from 'csp-seal/webpack'
console.log(JSON.stringify({ type: typeof CspSealPlugin, apply: typeof new CspSealPlugin().apply, keys: Object.keys(cjsView) }))
`,
    )
  }, 180_000)

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  it('a CommonJS webpack config requires it and builds a sealed page (the compiled nonce bootstrap included)', async () => {
    const { stdout, stderr } = await run(process.execPath, ['build.cjs'], { cwd: app })
    // require() of an ES module is unflagged and silent on Node 20.19+ (no ExperimentalWarning).
    expect(stderr).toBe('')
    const { errors } = JSON.parse(stdout) as { errors: string[] }
    expect(errors).toEqual([])
    const html = await readFile(join(app, 'dist', 'index.html'), 'utf8')
    expect(html).toMatch(/<meta http-equiv="Content-Security-Policy" content="[^"]*script-src 'self' 'sha256-/)
    // The compiled bootstrap (an ES module in the package) still hands the nonce to the runtime: __webpack_require__.nc.
    const main = await readFile(join(app, 'dist', 'main.js'), 'utf8')
    expect(main).toMatch(/querySelector\('meta\[property="csp-nonce"\]'\);\w+&&\w+\.nonce&&\(\w+\.nc=\w+\.nonce\)/)
  })

  it('an ES module imports it by name', async () => {
    const { stdout, stderr } = await run(process.execPath, ['import.mjs'], { cwd: app })
    expect(stderr).toBe('')
    expect(JSON.parse(stdout)).toEqual({ type: 'function', apply: 'function', keys: ['CspSealPlugin'] })
  })
})
