/**
 * The site folder on the real file system: which files are pages, and that nothing outside the folder is read or
 * written through symlinks, that only regular files are read (a FIFO never hangs a run, a device is never read),
 * that the size limit holds for every read, that two runs never seal one folder at once, and that file system
 * errors reach the user as problems with the file and a fix, never as a stack trace.
 */
import { execFile, execFileSync, spawn } from 'node:child_process'
import { chmod, chown, lstat, mkdir, mkdtemp, readdir, readFile, symlink, writeFile } from 'node:fs/promises'
import { hostname, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { main } from '../src/cli/main.js'
import { sealDirectory, SealError, type SiteResult } from '../src/index.js'
import { snapshot, useTempDirs } from './support/sites.js'

const { fixture, track } = useTempDirs()
const BIN = new URL('../dist/src/cli/bin.js', import.meta.url).pathname
const SEALED = /<meta http-equiv="Content-Security-Policy" content="[^"]*" data-csp-seal>/
const page = (id: string) =>
  `<!doctype html><html><head><meta charset="utf-8"><title>${id}</title></head><body><script>window.ran = ${JSON.stringify(id)}</script></body></html>`

async function workDir(): Promise<string> {
  return track(await mkdtemp(join(tmpdir(), 'csp-seal-safety-')))
}

async function write(root: string, files: Record<string, string>): Promise<void> {
  for (const [file, text] of Object.entries(files)) {
    await mkdir(dirname(join(root, file)), { recursive: true })
    await writeFile(join(root, file), text)
  }
}

/** Every path under `dir`, symlinks not followed (fs.readdir's recursive mode follows links to folders). */
async function walk(dir: string, prefix = ''): Promise<string[]> {
  const names: string[] = []
  for (const entry of await readdir(join(dir, prefix), { withFileTypes: true })) {
    const name = prefix ? `${prefix}/${entry.name}` : entry.name
    names.push(name)
    if (entry.isDirectory()) names.push(...(await walk(dir, name)))
  }
  return names
}

/** Every entry under `dir` (links not followed): type, and bytes and mtime of regular files. */
async function tree(dir: string): Promise<Map<string, string>> {
  const entries = new Map<string, string>()
  for (const name of await walk(dir)) {
    const info = await lstat(join(dir, name))
    entries.set(
      name,
      info.isFile()
        ? `file ${info.mtimeMs} ${(await readFile(join(dir, name))).toString('base64')}`
        : info.isSymbolicLink()
          ? 'link'
          : info.isDirectory()
            ? 'dir'
            : 'other',
    )
  }
  return entries
}

const run = (args: string[], options: { uid?: number; gid?: number; cwd?: string } = {}) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((done) => {
    execFile(process.execPath, [BIN, ...args], { ...options, env: { ...process.env, NO_COLOR: '1' } }, (error, stdout, stderr) =>
      done({ code: error ? (error.code as number) : 0, stdout, stderr }),
    )
  })
const STACK_LINE = /^\s+at .+[:(]/m

describe('which files are pages', () => {
  it('seals pages in any case of .html/.htm and in dot-folders, and never in .git, node_modules or staging folders', async () => {
    const root = await workDir()
    await write(root, {
      'a.html': page('a'),
      'B.HTML': page('B'),
      'c.Htm': page('c'),
      'd.HTM': page('d'),
      '.well-known/security.html': page('wk'),
      '.hidden/x.Html': page('x'),
      '.git/description.html': page('git'),
      'node_modules/pkg/readme.html': page('nm'),
      'docs/node_modules/y.html': page('nm2'),
      'notes.txt': 'x',
      'e.html.bak': 'x',
    })
    const result = await sealDirectory(root)
    expect(result.pages.map((p) => p.file)).toEqual(['.hidden/x.Html', '.well-known/security.html', 'B.HTML', 'a.html', 'c.Htm', 'd.HTM'])
    for (const file of ['a.html', 'B.HTML', 'c.Htm', 'd.HTM', '.well-known/security.html', '.hidden/x.Html'])
      expect(await readFile(join(root, file), 'utf8'), file).toMatch(SEALED)
    for (const file of ['.git/description.html', 'node_modules/pkg/readme.html', 'docs/node_modules/y.html'])
      expect(await readFile(join(root, file), 'utf8'), file).toBe(page(file.includes('git') ? 'git' : file.startsWith('docs') ? 'nm2' : 'nm'))
    const manifest = JSON.parse(await readFile(join(root, 'csp-seal.json'), 'utf8'))
    expect(Object.keys(manifest.pages)).toEqual(result.pages.map((p) => p.file))
  })

  it('--check fails on an unsealed page whatever the case of its extension or the folder it is in', async () => {
    const root = await workDir()
    await write(root, { 'index.html': page('i') })
    const capture = { out: '', err: '' }
    const cli = (args: string[]) => main(args, { out: (t) => (capture.out += t), err: (t) => (capture.err += t), isTTY: false, cwd: root })
    expect(await cli([root])).toBe(0)
    expect(await cli([root, '--check'])).toBe(0)
    for (const file of ['LEGACY.HTML', '.well-known/change-password.htm']) {
      await write(root, { [file]: page(file) })
      capture.err = ''
      expect(await cli([root, '--check']), file).toBe(1)
      expect(capture.err).toContain(file)
      expect(capture.err).toContain('the page has no Content-Security-Policy meta tag written by csp-seal')
    }
  })
})

describe('symlinks never lead a run outside the site', () => {
  it('a page that links to a file outside is refused with a warning, never read, and the link stays a link', async () => {
    const work = await workDir()
    const root = join(work, 'site')
    await write(work, { 'secret.html': page('SECRET-OUTSIDE'), 'site/index.html': page('i') })
    await symlink(join(work, 'secret.html'), join(root, 'leak.html'))
    const before = await tree(work)
    const result = await sealDirectory(root)
    expect(result.pages.map((p) => p.file)).toEqual(['index.html'])
    expect(result.warnings).toContainEqual(
      expect.objectContaining({
        code: 'outside-site',
        file: 'leak.html',
        message: `is a symbolic link to ${join(work, 'secret.html')}, outside the site folder: csp-seal does not follow it (nothing there is read or sealed)`,
      }),
    )
    expect((await lstat(join(root, 'leak.html'))).isSymbolicLink()).toBe(true)
    expect(await readFile(join(work, 'secret.html'), 'utf8')).toBe(page('SECRET-OUTSIDE'))
    expect(await readFile(join(root, 'csp-seal.json'), 'utf8')).not.toContain('leak.html')
    const after = await tree(work)
    for (const [name, entry] of before) if (!name.startsWith('site')) expect(after.get(name), name).toBe(entry)
  })

  it('a folder that links to the parent folder is not followed: nothing above the site is sealed', async () => {
    const work = await workDir()
    const root = join(work, 'site')
    await write(work, { 'other/page.html': page('other'), 'site/index.html': page('i') })
    await symlink('..', join(root, 'up'))
    const before = await tree(join(work, 'other'))
    const result = await sealDirectory(root)
    expect(result.pages.map((p) => p.file)).toEqual(['index.html'])
    expect(result.warnings.map((w) => [w.code, w.file])).toContainEqual(['outside-site', 'up'])
    expect(await tree(join(work, 'other'))).toEqual(before)
  })

  it('a page linked inside the site is sealed once, in its real file, and the link stays a link', async () => {
    const root = await workDir()
    await write(root, { 'docs/v2/index.html': page('v2'), 'data/page.txt': page('txt') })
    await symlink('v2', join(root, 'docs/latest'))
    await symlink('docs/v2/index.html', join(root, 'home.html'))
    await symlink('data/page.txt', join(root, 'txt.html'))
    const result = await sealDirectory(root)
    expect(result.pages.map((p) => p.file)).toEqual(['docs/v2/index.html', 'txt.html'])
    expect(result.warnings.map((w) => [w.code, w.file])).toEqual(
      expect.arrayContaining([
        ['linked-folder', 'docs/latest'],
        ['page-alias', 'home.html'],
      ]),
    )
    expect(await readFile(join(root, 'data/page.txt'), 'utf8')).toMatch(SEALED)
    for (const link of ['docs/latest', 'home.html', 'txt.html']) expect((await lstat(join(root, link))).isSymbolicLink(), link).toBe(true)
  })

  it('a header file or manifest that links outside is neither read nor replaced: the run fails naming it', async () => {
    const work = await workDir()
    const root = join(work, 'site')
    await write(work, { 'elsewhere/_headers': '/*\n  X-Outside: 1\n', 'site/index.html': page('i') })
    await symlink(join(work, 'elsewhere/_headers'), join(root, '_headers'))
    const before = await tree(work)
    const error = (await sealDirectory(root, { headers: ['netlify'] }).catch((e: unknown) => e)) as SealError
    expect(error).toBeInstanceOf(SealError)
    expect(error.problems).toEqual([
      expect.objectContaining({
        code: 'outside-site',
        file: '_headers',
        message: `is a symbolic link to ${join(work, 'elsewhere/_headers')}, outside the site folder; csp-seal neither reads nor replaces it`,
      }),
    ])
    expect(await tree(work)).toEqual(before)
  })

  // Random layouts: links to the parent, outside folders and files, devices, FIFOs, loops, dangling targets,
  // folders and pages inside; in random folders, with page names in any case.
  const TARGETS = [
    '..',
    '../outside',
    '../outside/o.html',
    '../outside-file.html',
    '/dev/zero',
    '.',
    'a',
    'a/p1.html',
    'missing.html',
    'loop-a',
    'FIFO',
    'ROOT',
    '../site/a/b',
  ]
  const layout = fc.record({
    folders: fc.subarray(['a', 'a/b', '.well-known', 'c', 'node_modules'], { minLength: 1 }),
    pages: fc.array(fc.tuple(fc.constantFrom('', 'a', 'a/b', '.well-known', 'c', 'node_modules'), fc.constantFrom('p1.html', 'P2.HTML', 'p3.htm')), {
      maxLength: 5,
    }),
    links: fc.array(
      fc.tuple(fc.constantFrom('', 'a', 'a/b', 'c'), fc.constantFrom('l1.html', 'L2.HTM', 'd1', 'd2', 'loop-a', 'loop-b'), fc.constantFrom(...TARGETS)),
      { maxLength: 6 },
    ),
    fifo: fc.boolean(),
    workers: fc.constantFrom(1, 1, 1, 1, 1, 1, 1, 2),
  })

  it('property: whatever the links, nothing outside is read or written, every page inside is sealed once, and nothing hangs', async () => {
    let runs = 0
    await fc.assert(
      fc.asyncProperty(layout, async ({ folders, pages, links, fifo, workers }) => {
        const work = await workDir()
        const root = join(work, 'site')
        await write(work, { 'outside/o.html': page('OUTSIDE-O'), 'outside/sub/q.html': page('OUTSIDE-Q'), 'outside-file.html': page('OUTSIDE-FILE') })
        await mkdir(root)
        for (const folder of folders) await mkdir(join(root, folder), { recursive: true })
        for (const [folder, name] of pages) await write(root, { [join(folder, name)]: page(`${folder}/${name}`) })
        if (fifo) execFileSync('mkfifo', [join(root, 'pipe.html')])
        for (const [folder, name, target] of links) {
          const at = join(root, folder, name)
          await mkdir(dirname(at), { recursive: true })
          const to =
            target === 'ROOT' ? root : target === 'FIFO' ? join(root, 'pipe.html') : target === 'loop-a' ? (name === 'loop-a' ? 'loop-b' : 'loop-a') : target
          await symlink(to, at).catch(() => undefined) // the same name twice: the first link stays
        }
        const outside = await tree(work).then((entries) => new Map([...entries].filter(([name]) => !name.startsWith('site'))))
        let result: SiteResult | undefined
        try {
          result = await sealDirectory(root, {}, { workers })
        } catch (error) {
          // The only failure allowed: a layout without a page inside is refused whole (nothing to seal is an error).
          expect(error).toBeInstanceOf(SealError)
          if (!(error as SealError).problems.every((p) => p.code === 'no-pages')) throw error
        }
        // Nothing outside the site changed, or was added.
        const now = new Map([...(await tree(work))].filter(([name]) => !name.startsWith('site')))
        expect(now).toEqual(outside)
        // Every regular page file inside (outside node_modules) is sealed, exactly once; no content from outside got in.
        const regular: string[] = []
        for (const name of await walk(root)) {
          const info = await lstat(join(root, name))
          if (info.isFile() && /\.html?$/i.test(name) && !name.split('/').some((part) => part === 'node_modules' || part.startsWith('.csp-seal')))
            regular.push(name)
          if (info.isFile()) expect(await readFile(join(root, name), 'utf8'), name).not.toContain('OUTSIDE-')
        }
        if (!result) {
          expect(regular).toEqual([])
          runs++
          return
        }
        for (const name of regular) expect(await readFile(join(root, name), 'utf8'), name).toMatch(SEALED)
        expect(new Set(result.pages.map((p) => p.file)).size).toBe(result.pages.length)
        // Links are still links; the FIFO is still a FIFO (reported, never opened).
        for (const [folder, name] of links) {
          const info = await lstat(join(root, folder, name)).catch(() => undefined)
          if (info) expect(info.isSymbolicLink() || info.isDirectory() || info.isFile()).toBe(true)
        }
        if (fifo) {
          expect((await lstat(join(root, 'pipe.html'))).isFIFO()).toBe(true)
          expect(result.warnings).toContainEqual(expect.objectContaining({ code: 'not-a-file', file: 'pipe.html' }))
        }
        // A second run finds the folder sealed.
        const again = await sealDirectory(root, {}, { workers: 1 })
        expect(again.written).toEqual([])
        runs++
      }),
      { numRuns: 50 },
    )
    expect(runs).toBe(50)
  }, 300_000)
})

describe('only regular files are read, and never past the size limit', () => {
  it('a page linked to /dev/zero, a page that is a FIFO and one linked to a FIFO are reported, never opened, and the run completes', async () => {
    const root = await workDir()
    await write(root, { 'index.html': page('i') })
    await symlink('/dev/zero', join(root, 'zero.html'))
    execFileSync('mkfifo', [join(root, 'fifo.html')])
    execFileSync('mkfifo', [join(root, 'pipe')])
    await symlink('pipe', join(root, 'pipe.html'))
    const result = await sealDirectory(root)
    expect(result.pages.map((p) => p.file)).toEqual(['index.html'])
    expect(result.warnings.map((w) => [w.code, w.file])).toEqual(
      expect.arrayContaining([
        ['outside-site', 'zero.html'],
        ['not-a-file', 'fifo.html'],
      ]),
    )
    // The same finding for two files is one warning, counted (the FIFO and the link to one).
    expect(result.warnings.find((w) => w.code === 'not-a-file')!.count).toBe(2)
    expect(await readFile(join(root, 'index.html'), 'utf8')).toMatch(SEALED)
  })

  it('a script that is a FIFO, or a link to a device, is refused by its tag; one over the size limit too', async () => {
    const root = await workDir()
    await write(root, {
      'index.html': page('i').replace('</head>', '<script src="assets/pipe.js"></script></head>'),
      'big.html': page('b').replace('</head>', '<script src="assets/big.js"></script></head>'),
      'dev.html': page('d').replace('</head>', '<script src="assets/zero.js"></script></head>'),
      'assets/big.js': 'x'.repeat(5000),
    })
    execFileSync('mkfifo', [join(root, 'assets/pipe.js')])
    await symlink('/dev/zero', join(root, 'assets/zero.js'))
    const before = await snapshot(root)
    const error = (await sealDirectory(root, { maxPageBytes: 4000 }).catch((e: unknown) => e)) as SealError
    expect(error).toBeInstanceOf(SealError)
    expect(error.problems.map((p) => [p.file, p.code])).toEqual([
      ['big.html', 'asset-too-large'],
      ['index.html', 'asset-not-a-file'],
    ])
    expect(error.message).toMatch(/index\.html:1:\d+: assets\/pipe\.js resolves to "assets\/pipe\.js", which is a FIFO \(named pipe\), not a regular file/)
    expect(error.message).toMatch(/big\.html:1:\d+: assets\/big\.js resolves to "assets\/big\.js", which is 5000 bytes, over the 4000-byte limit/)
    expect(await snapshot(root)).toEqual(before)
    // The device is outside the site: a warning, never read; the run completes once the FIFO is no page's script.
    await write(root, { 'index.html': page('i') })
    const result = await sealDirectory(root)
    expect(result.warnings).toContainEqual(
      expect.objectContaining({ code: 'outside-site', file: 'dev.html', message: expect.stringContaining('(it is a link to /dev/zero)') }),
    )
    expect(await readFile(join(root, 'dev.html'), 'utf8')).toContain('<script src="assets/zero.js"></script>')
  })
})

describe('one run at a time', () => {
  const liveProcess = () => spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' })
  const lockOf = (pid: number, host = hostname()) => `${JSON.stringify({ pid, host, started: '2026-01-01T00:00:00.000Z' })}\n`

  it('refuses a folder another live run holds, naming it; takes over the lock of a run that died', async () => {
    const dir = await fixture('example-site')
    const other = liveProcess()
    try {
      await writeFile(join(dir, '.csp-seal-running'), lockOf(other.pid!))
      const before = await snapshot(dir)
      const error = (await sealDirectory(dir).catch((e: unknown) => e)) as SealError
      expect(error).toBeInstanceOf(SealError)
      expect(error.problems).toEqual([
        expect.objectContaining({
          code: 'site-locked',
          message: `another csp-seal run is sealing this folder (pid ${other.pid} on ${hostname()}, started 2026-01-01T00:00:00.000Z); two runs at once would undo each other's work`,
        }),
      ])
      expect(await snapshot(dir)).toEqual(before)
      // The CLI says the same, without a stack trace.
      const cli = await run([dir, '--quiet'])
      expect(cli.code).toBe(1)
      expect(cli.stderr).toContain(`another csp-seal run is sealing this folder (pid ${other.pid}`)
      expect(cli.stderr).not.toMatch(STACK_LINE)
    } finally {
      other.kill()
    }
    await new Promise((exited) => (other.exitCode !== null || other.signalCode !== null ? exited(undefined) : other.once('exit', exited)))
    const result = await sealDirectory(dir)
    expect(result.warnings).toContainEqual(expect.objectContaining({ code: 'stale-lock', message: expect.stringContaining(`pid ${other.pid}`) }))
    expect(result.pages.every((p) => p.changed)).toBe(true)
    expect((await readdir(dir)).filter((name) => name.startsWith('.csp-seal'))).toEqual([])
  })

  it('of two runs started together on one folder, one seals it and the other is refused; the folder ends sealed', async () => {
    const dir = await fixture('example-site')
    const outcomes = await Promise.allSettled([sealDirectory(dir, { headers: ['netlify'] }), sealDirectory(dir, { headers: ['netlify'] })])
    expect(outcomes.map((o) => o.status).sort()).toEqual(['fulfilled', 'rejected'])
    const refused = outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult
    expect((refused.reason as SealError).problems[0]!.code).toBe('site-locked')
    const again = await sealDirectory(dir, { headers: ['netlify'] })
    expect(again.written).toEqual([])
    expect(JSON.parse(await readFile(join(dir, 'csp-seal.json'), 'utf8')).pages).toHaveProperty(['index.html'])
  })

  it('two CLI processes on one folder: each seals it or is refused with a clear message, never a stack trace', async () => {
    const dir = await fixture('example-site')
    const [a, b] = await Promise.all([run([dir, '--headers', 'netlify']), run([dir, '--headers', 'netlify'])])
    for (const outcome of [a, b]) {
      expect(outcome.stderr).not.toMatch(STACK_LINE)
      if (outcome.code !== 0) expect(outcome.stderr).toContain('another csp-seal run is sealing this folder')
    }
    expect([a.code, b.code]).toContain(0)
    const check = await run([dir, '--check', '--headers', 'netlify'])
    expect(check.code).toBe(0)
  }, 120_000)
})

describe('file system errors reach the user as problems, never as stack traces', () => {
  // As root, chmod stops nothing: the CLI runs as nobody on folders it may not write.
  const asUser = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {}

  it('a site folder csp-seal may not write: a clear error naming the folder and the fix, and nothing changed', async () => {
    const dir = await fixture('example-site')
    await chmod(dir, 0o555)
    try {
      const before = await snapshot(dir)
      const cli = await run([dir], { ...asUser, cwd: dir })
      expect(cli.code).toBe(1)
      expect(cli.stderr).toMatch(/writing in the site folder .* failed: permission denied \(EACCES\)/)
      expect(cli.stderr).toContain('fix: run csp-seal as a user who may read and write the site folder')
      expect(cli.stderr).not.toMatch(STACK_LINE)
      expect(await snapshot(dir)).toEqual(before)
    } finally {
      await chmod(dir, 0o755)
    }
  })

  it('a page csp-seal may not read: the page is named with the fix, and nothing is written', async () => {
    const dir = await fixture('example-site')
    if (asUser.uid !== undefined) for (const name of ['', ...(await readdir(dir, { recursive: true }))]) await chown(join(dir, name), asUser.uid, asUser.gid)
    const before = await snapshot(dir)
    await chmod(join(dir, 'features.html'), 0o000)
    let cli: Awaited<ReturnType<typeof run>>
    try {
      cli = await run([dir], { ...asUser, cwd: dir })
    } finally {
      await chmod(join(dir, 'features.html'), 0o644)
    }
    expect(cli.code).toBe(1)
    expect(cli.stderr).toContain('features.html: reading the page failed: permission denied (EACCES)')
    expect(cli.stderr).not.toMatch(STACK_LINE)
    expect(await snapshot(dir)).toEqual(before)
    expect((await readdir(dir)).filter((name) => name.startsWith('.csp-seal'))).toEqual([])
  })
})
