/**
 * One step shared by the framework entry points (csp-seal/vitepress, csp-seal/astro, csp-seal/docusaurus) and the
 * Vite plugin's SvelteKit path: seal the folder a framework has just written, with the CLI's engine
 * ({@link sealDirectory}: all pages planned before anything is written, nothing half-written, written pages read
 * back and checked). A failure is an Error whose message lists every problem (file, element, fix), no stack.
 */
import { toResolved, type CspSealConfig, type ResolvedConfig } from '../../src/config.js'
import { formatProblem, SealError, type Problem } from '../../src/problems.js'
import { sealDirectory } from '../../src/site/site.js'

export interface FolderLog {
  info(message: string): void
  warn(message: string): void
}

export interface SealedFolder {
  dir: string
  pages: number
  written: string[]
  warnings: Problem[]
}

/** Seals `dir` in place; `framework` names the build in messages ("VitePress"). */
export async function sealBuiltFolder(
  framework: string,
  dir: string,
  options: CspSealConfig | ResolvedConfig,
  log: FolderLog,
  cwd?: string,
): Promise<SealedFolder> {
  try {
    const result = await sealDirectory(dir, toResolved(options), cwd === undefined ? {} : { cwd })
    for (const warning of result.warnings) {
      const more = warning.count && warning.count > 1 ? ` (${warning.count} places)` : ''
      log.warn(`csp-seal (${warning.code}): ${formatProblem(warning)}${more}`)
    }
    const pages = result.pages.length
    log.info(
      `csp-seal sealed ${pages} ${framework} page${pages === 1 ? '' : 's'} in ${dir}${result.written.length ? ` (wrote ${result.written.length} files)` : ''}`,
    )
    return { dir, pages, written: result.written, warnings: result.warnings }
  } catch (error) {
    if (error instanceof SealError) throw new Error(sealFailure(`could not seal the ${framework} build in ${dir}`, error.problems), { cause: error })
    throw error
  }
}

export function sealFailure(what: string, problems: readonly Problem[]): string {
  return `csp-seal: ${what}:\n${problems.map((p) => `- ${formatProblem(p).replace(/\n/g, '\n  ')}`).join('\n')}`
}
