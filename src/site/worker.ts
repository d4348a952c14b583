import { parentPort, workerData } from 'node:worker_threads'
import type { ResolvedConfig } from '../config.js'
import type { ExtraHashes } from '../csp/inline.js'
import { RefusedFile, type RefusalReason } from '../safe-fs.js'
import type { Digests } from '../sri/integrity.js'
import type { RemoteOutcome } from '../sri/remote.js'
import { fileSealer, type FileOutcome, type SiteMode } from './job.js'
import type { SitePage } from './site-fs.js'

/** Messages between the site sealer and its workers. */
export type ToWorker =
  { type: 'page'; index: number; page: SitePage } | { type: 'answer'; id: number; value?: unknown; refused?: { reason: RefusalReason; message: string } }
export type FromWorker = { type: 'done'; index: number; outcome: FileOutcome } | { type: 'ask'; id: number; what: 'digests' | 'remote'; key: string }

export interface WorkerInit {
  root: string
  staging: string
  config: ResolvedConfig
  mode: SiteMode
  extraHashes?: ExtraHashes
  collectHashes?: boolean
  angularRoots?: readonly string[]
}

// Pages are sealed here; asset integrity and remote pins are asked of the main thread, so each asset is
// hashed and each URL fetched once per run, whatever the number of workers.
if (parentPort) {
  const port = parentPort
  const init = workerData as WorkerInit
  const waiting = new Map<number, (answer: ToWorker & { type: 'answer' }) => void>()
  let nextId = 0
  const ask = <T>(what: 'digests' | 'remote', key: string) =>
    new Promise<T>((resolve, reject) => {
      const id = nextId++
      waiting.set(id, (answer) =>
        answer.refused === undefined ? resolve(answer.value as T) : reject(new RefusedFile(answer.refused.reason, answer.refused.message)),
      )
      port.postMessage({ type: 'ask', id, what, key } satisfies FromWorker)
    })
  // Each answer is asked once per worker: every page of a site names the same few assets.
  const remembered = <T>(what: 'digests' | 'remote') => {
    const answers = new Map<string, Promise<T>>()
    return (key: string) => {
      let answer = answers.get(key)
      if (!answer) answers.set(key, (answer = ask<T>(what, key)))
      return answer
    }
  }
  const context = {
    ...init,
    digests: remembered<Digests | undefined>('digests'),
    remote: remembered<RemoteOutcome>('remote'),
  }
  const sealFile = fileSealer(context)
  port.on('message', (message: ToWorker) => {
    if (message.type === 'answer') {
      waiting.get(message.id)?.(message)
      waiting.delete(message.id)
      return
    }
    void sealFile(message.page, message.index).then((outcome) => port.postMessage({ type: 'done', index: message.index, outcome } satisfies FromWorker))
  })
}
