import { now } from './clock.js'

export interface HeartbeatMonitor {
  /** Starts watching: a frame must come within `interval + grace` ms of the previous one. */
  start(interval: number, grace: number): void
  /** Records that the server just said something. Cheap: no timer is touched. */
  alive(): void
  stop(): void
}

/**
 * Notices a server that stopped talking: no frame for longer than the announced heartbeat interval plus a
 * grace period, then calls `onSilent`. Liveness is a timestamp compared when one timer fires, never a count of
 * timer ticks, so timers that a background tab throttles or a sleeping laptop suspends cannot add up to a false
 * alarm. Closures rather than a class: their variables minify to single letters (browser size budget).
 */
export function heartbeatMonitor(onSilent: () => void): HeartbeatMonitor {
  /** When the server last said something. */
  let last = 0
  /** Longest silence tolerated; 0 while stopped. */
  let limit = 0
  let timer: ReturnType<typeof setTimeout> | undefined
  /** The check already gave the event loop one extra round before deciding. */
  let deferred = false

  const check = (): void => {
    timer = undefined
    const silent = now() - last
    if (silent < limit) timer = setTimeout(check, limit - silent)
    else if (!deferred) {
      // When this process or tab was frozen (or just busy), frames that arrived meanwhile may still wait in the
      // event queue behind this timer. Let them in once before deciding; a live server costs one extra round.
      deferred = true
      timer = setTimeout(check)
    } else {
      monitor.stop()
      onSilent()
    }
  }
  const monitor: HeartbeatMonitor = {
    start(interval, grace) {
      limit = interval + grace
      monitor.alive()
    },
    alive() {
      last = now()
      deferred = false
      if (limit && !timer) timer = setTimeout(check, limit)
    },
    stop() {
      clearTimeout(timer)
      timer = undefined
      limit = 0
    },
  }
  return monitor
}
