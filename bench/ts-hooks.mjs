// Module hooks (node:module `register`) for the bench scripts: native ESM semantics, types stripped per file.
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'

let typescript

export async function resolve(specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context)
  } catch (error) {
    // Sources import `./x.js` (NodeNext); before a build only `./x.ts` exists.
    const local = specifier.startsWith('.') || specifier.startsWith('/') || specifier.startsWith('file:')
    if (!local || !specifier.endsWith('.js') || !context.parentURL) throw error
    const url = new URL(specifier.slice(0, -3) + '.ts', context.parentURL)
    if (!existsSync(fileURLToPath(url))) throw error
    return { url: url.href, format: 'module', shortCircuit: true }
  }
}

export async function load(url, context, nextLoad) {
  if (!url.startsWith('file:') || !url.endsWith('.ts')) return nextLoad(url, context)
  // Loaded on first use only, so a process that never meets a .ts file pays nothing.
  typescript ??= (await import('typescript')).default
  const fileName = fileURLToPath(url)
  const { outputText } = typescript.transpileModule(await readFile(fileName, 'utf8'), {
    fileName,
    compilerOptions: {
      module: typescript.ModuleKind.ESNext,
      target: typescript.ScriptTarget.ES2022,
      verbatimModuleSyntax: true,
      inlineSourceMap: true,
      inlineSources: true,
    },
  })
  return { format: 'module', source: outputText, shortCircuit: true }
}
