// What an operator turns on, for `pnpm bench` to measure against a server without it: @mesa/server/metrics in a
// registry scraped every 250 ms (Prometheus scrapes every 15 s or so: this is far more often), and a pino logger
// at `info` writing to /dev/null; and the comparison itself (`observabilityRun`).
import { fork } from 'node:child_process'
import pino from '../packages/server/node_modules/pino/pino.js'
import promClient from '../packages/server/node_modules/prom-client/index.js'
import { registerMesaMetrics } from '../packages/server/dist/metrics.js'
import { ask, median, received } from './support.mjs'

const SCRAPE_INTERVAL_MS = 250

export function benchLogger() {
  return pino({ level: 'info' }, pino.destination({ dest: '/dev/null', sync: false }))
}

/** Registers the server's metrics and scrapes them until the returned function is called. */
export function scrapedMetrics(mesa) {
  const registry = new promClient.Registry()
  const unregister = registerMesaMetrics(mesa, registry)
  const timer = setInterval(() => void registry.metrics(), SCRAPE_INTERVAL_MS)
  return () => {
    clearInterval(timer)
    unregister()
  }
}

/** Sockets on each server, as the broadcast runs have. */
const SOCKETS = Number(process.env.BENCH_SOCKETS ?? 300)
/** Measured rounds of each server, alternating; each round broadcasts `PER_ROUND` messages to every socket. */
const ROUNDS = Number(process.env.BENCH_OBSERVABILITY_ROUNDS ?? 40)
const PER_ROUND = 100
const WARMUP = 40

/**
 * The cost of what an operator turns on, measured on live servers: a plain one and an observed one
 * (bench/observed-server-process.mjs), each in its own process with its own clients, broadcasting in alternating
 * rounds. Each server's CPU is counted during its own rounds only, scrapes and log writes included: at a scrape
 * every 250 ms of wall time, a round contains its share of them. The figure is the observed server's CPU over
 * all its rounds against the plain one's (a round of either hit by a busy spell weighs as little as one round);
 * `pairs` is the median of the rounds' paired ratios, which leaves out the rounds that held a scrape.
 */
export async function observabilityRun(payload) {
  const sides = await Promise.all(
    [false, true].map(async (observed) => {
      const server = fork(new URL('./observed-server-process.mjs', import.meta.url), [JSON.stringify({ observed, payload })])
      const { url } = await ask(server)
      const clients = fork(new URL('./clients-process.mjs', import.meta.url), [JSON.stringify({ url, count: SOCKETS, authenticate: false })])
      await ask(clients, 'open')
      return { server, clients, expected: 0, cpu: [] }
    }),
  )
  const round = async (side, broadcasts) => {
    side.expected += broadcasts * SOCKETS
    await ask(side.server, 'start')
    await ask(side.server, { broadcast: broadcasts })
    // Polled often: the observed server's scrapes while it waits idle would count as its round's CPU.
    await received(side.clients, side.expected, 2)
    const { cpuMicros } = await ask(side.server, 'stop')
    return cpuMicros
  }
  try {
    for (const side of sides) await round(side, WARMUP)
    for (let i = 0; i < ROUNDS; i++) {
      for (const side of i % 2 ? [...sides].reverse() : sides) side.cpu.push(await round(side, PER_ROUND))
    }
  } finally {
    for (const { server, clients } of sides) {
      await ask(clients, 'close')
      await ask(server, 'close')
    }
  }
  const [plain, observed] = sides
  const total = (cpu) => cpu.reduce((sum, micros) => sum + micros, 0)
  const deliveries = ROUNDS * PER_ROUND * SOCKETS
  return {
    rounds: ROUNDS,
    plain: total(plain.cpu) / deliveries,
    observed: total(observed.cpu) / deliveries,
    ratio: total(observed.cpu) / total(plain.cpu),
    pairs: median(observed.cpu.map((micros, i) => micros / plain.cpu[i])),
  }
}
