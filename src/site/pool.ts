import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { Worker } from 'node:worker_threads'
import { RefusedFile } from '../safe-fs.js'
import { fileSealer, type FileJobContext, type FileOutcome } from './job.js'
import type { SitePage } from './site-fs.js'
import type { FromWorker, ToWorker, WorkerInit } from './worker.js'

/** Where page outcomes go, in any order: {@link SiteCollector} (src/site/collector.ts), or the first pass's hash union. */
export interface OutcomeSink {
  /** Resolves when page `index` may be started (bounds what waits in memory). */
  room(index: number): Promise<void>
  add(index: number, outcome: FileOutcome): Promise<void>
}

/** Seals on this thread, a few pages in flight to overlap file I/O. */
export async function runHere(pages: readonly SitePage[], context: FileJobContext, collector: OutcomeSink): Promise<void> {
  const sealFile = fileSealer(context)
  let next = 0
  const lane = async () => {
    while (next < pages.length) {
      const index = next++
      await collector.room(index)
      await collector.add(index, await sealFile(pages[index]!, index))
    }
  }
  await Promise.all(Array.from({ length: Math.min(8, pages.length) }, lane))
}

/** Seals in worker threads; integrity and remote pins are answered here, so each is computed once per run. */
export async function runInWorkers(count: number, pages: readonly SitePage[], context: FileJobContext, collector: OutcomeSink): Promise<void> {
  const workers = Array.from({ length: Math.min(count, pages.length) }, (_, n) => {
    const staging = join(context.staging, `worker-${n}`)
    if (context.mode === 'write') mkdirSync(staging)
    return new Worker(workerUrl(), {
      workerData: {
        root: context.root,
        staging,
        config: context.config,
        mode: context.mode,
        extraHashes: context.extraHashes,
        collectHashes: context.collectHashes,
        angularRoots: context.angularRoots,
      } satisfies WorkerInit,
    })
  })
  let next = 0
  let finished = 0
  try {
    await new Promise<void>((resolveAll, rejectAll) => {
      const feed = async (worker: Worker) => {
        if (next >= pages.length) return
        const index = next++
        await collector.room(index)
        worker.postMessage({ type: 'page', index, page: pages[index]! } satisfies ToWorker)
      }
      for (const worker of workers) {
        worker.on('error', rejectAll)
        worker.on('message', (message: FromWorker) => {
          if (message.type === 'ask') {
            const answer = message.what === 'digests' ? context.digests(message.key) : context.remote(message.key)
            answer.then(
              (value) => worker.postMessage({ type: 'answer', id: message.id, value } satisfies ToWorker),
              (error) =>
                error instanceof RefusedFile
                  ? worker.postMessage({ type: 'answer', id: message.id, refused: { reason: error.reason, message: error.message } } satisfies ToWorker)
                  : rejectAll(error),
            )
            return
          }
          collector
            .add(message.index, message.outcome)
            .then(() => {
              if (++finished === pages.length) resolveAll()
              else return feed(worker)
            })
            .catch(rejectAll)
        })
        // A few pages per worker in flight, so reading files overlaps with parsing.
        for (let i = 0; i < 4; i++) void feed(worker).catch(rejectAll)
      }
      if (pages.length === 0) resolveAll()
    })
  } finally {
    await Promise.all(workers.map((worker) => worker.terminate()))
  }
}

/** The worker module; from TypeScript sources (tests) the built one, since workers load plain JavaScript. */
function workerUrl(): URL {
  return import.meta.url.endsWith('.ts') ? new URL('../../dist/src/site/worker.js', import.meta.url) : new URL('./worker.js', import.meta.url)
}
