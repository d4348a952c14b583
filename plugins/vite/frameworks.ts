/**
 * Frameworks built on Vite that write their HTML after the Vite bundle, where `generateBundle` cannot see it:
 * VitePress renders its pages after its client and server builds, SvelteKit prerenders and runs its adapter in
 * its own `closeBundle`, Astro and Nuxt render in their own build steps. Without this, the plugin would find no
 * page and seal nothing, silently.
 */
import { resolve } from 'node:path'
import type { ResolvedConfig as ViteConfig } from 'vite'

export type FrameworkName = 'VitePress' | 'SvelteKit' | 'Astro' | 'Nuxt'

export interface Framework {
  name: FrameworkName
  /** Why the plugin cannot seal it, and what to use instead (SvelteKit has no such line: the plugin seals it). */
  refusal?: { reason: string; fix: string }
}

/** The framework running this Vite build, from its plugins' names (and VitePress's config key). */
export function frameworkOf(vite: ViteConfig): Framework | undefined {
  const names = vite.plugins.map((p) => p.name)
  const root = vite.root
  if ('vitepress' in vite || names.some((n) => n === 'vitepress' || n.startsWith('vitepress:'))) {
    const site = (vite as ViteConfig & { vitepress?: { outDir?: string } }).vitepress
    const outDir = site?.outDir ?? resolve(root, '.vitepress/dist')
    return {
      name: 'VitePress',
      refusal: {
        reason: 'VitePress renders its pages after the Vite build, where a Vite plugin cannot see them',
        fix: `use csp-seal/vitepress in .vitepress/config (buildEnd: cspSealBuildEnd({ … })), or run \`npx csp-seal ${shown(outDir)}\` after \`vitepress build\``,
      },
    }
  }
  if (names.some((n) => n.startsWith('vite-plugin-sveltekit-'))) return { name: 'SvelteKit' }
  if (names.some((n) => n.startsWith('astro:'))) {
    return {
      name: 'Astro',
      refusal: {
        reason: 'Astro renders its pages after the Vite build, where a Vite plugin cannot see them',
        fix: 'add the csp-seal/astro integration to astro.config (integrations: [cspSeal({ … })]), or run `npx csp-seal dist` after `astro build`',
      },
    }
  }
  if (names.some((n) => n.startsWith('nuxt:'))) {
    return {
      name: 'Nuxt',
      refusal: {
        reason: 'Nuxt renders its pages with Nitro after the Vite build, where a Vite plugin cannot see them',
        fix: 'run `npx csp-seal .output/public` after `nuxi generate`',
      },
    }
  }
  return undefined
}

/**
 * SvelteKit runs its adapter in its own `closeBundle` (of the server build), which this plugin's `closeBundle`
 * (`order: 'post'`, sequential) follows. The adapter is wrapped here to learn the folders it writes the
 * prerendered pages and the client files to: the plugin seals those pages once the adapter has written them.
 */
export interface AdapterOutput {
  pages: Set<string>
  assets: Set<string>
  adapter?: string
}

interface Builder {
  writePrerendered(dest: string): string[]
  writeClient(dest: string): string[]
}
interface Adapter {
  name: string
  adapt(builder: Builder): unknown
}

const WRAPPED = Symbol.for('csp-seal.adapter')

/** Wraps SvelteKit's adapter (in the config its Vite plugin shares) so its output folders are recorded. */
export function watchSvelteKitAdapter(vite: ViteConfig, output: AdapterOutput): boolean {
  const setup = vite.plugins.find((p) => p.name === 'vite-plugin-sveltekit-setup') as { api?: { options?: { kit?: { adapter?: Adapter } } } } | undefined
  const kit = setup?.api?.options?.kit
  const adapter = kit?.adapter
  if (!kit || !adapter) return false
  output.adapter = adapter.name
  if ((adapter as unknown as Record<symbol, unknown>)[WRAPPED]) {
    ;((adapter as unknown as Record<symbol, unknown>)[WRAPPED] as AdapterOutput[]).push(output)
    return true
  }
  const outputs: AdapterOutput[] = [output]
  kit.adapter = {
    ...adapter,
    [WRAPPED]: outputs,
    adapt(builder: Builder) {
      const watched = new Proxy(builder, {
        get(target, key) {
          const value = Reflect.get(target, key, target) as unknown
          if (key === 'writePrerendered' || key === 'writeClient') {
            return (dest: string) => {
              for (const out of outputs) (key === 'writePrerendered' ? out.pages : out.assets).add(resolve(dest))
              return (value as (dest: string) => string[]).call(target, dest)
            }
          }
          return typeof value === 'function' ? value.bind(target) : value
        },
      })
      return adapter.adapt(watched)
    },
  } as Adapter
  return true
}

function shown(dir: string): string {
  const rel = dir.startsWith(process.cwd() + '/') ? dir.slice(process.cwd().length + 1) : dir
  return /\s/.test(rel) ? JSON.stringify(rel) : rel
}
