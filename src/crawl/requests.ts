import type { Page, Request } from 'playwright-core'

/** A page's requests in flight, and when one last started or ended: what a quiet network is judged by. */
export interface RequestWatch {
  /** Requests started and not yet finished or failed. */
  readonly inFlight: number
  /** `performance.now()` when a request last started or ended, or when `restart()` was last called. */
  readonly lastChange: number
  /** Counts from now as if a request had just ended: a quiet period starts here at the earliest. */
  restart(): void
  stop(): void
}

/** Watches the requests `page` starts from now on, in every frame. */
export function watchRequests(page: Page): RequestWatch {
  const open = new Set<Request>()
  let lastChange = performance.now()
  const started = (request: Request) => {
    open.add(request)
    lastChange = performance.now()
  }
  const ended = (request: Request) => {
    open.delete(request)
    lastChange = performance.now()
  }
  page.on('request', started)
  page.on('requestfinished', ended)
  page.on('requestfailed', ended)
  return {
    get inFlight() {
      return open.size
    },
    get lastChange() {
      return lastChange
    },
    restart() {
      lastChange = performance.now()
    },
    stop() {
      page.off('request', started)
      page.off('requestfinished', ended)
      page.off('requestfailed', ended)
    },
  }
}
