import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { CommandDeadlines, type Waiting } from '../src/command-deadlines.js'

beforeEach(() => void vi.useFakeTimers())
afterEach(() => void vi.useRealTimers())

/** Deadlines of `timeoutMs`, and the names of the commands that expired, in order. */
function deadlines(timeoutMs: number) {
  const expired: string[] = []
  const queue = new CommandDeadlines(timeoutMs, (waiting) => waiting.reject(new Error('timed out')))
  const add = (name: string, tracked = true): Waiting => queue.add(() => expired.push(name), tracked)
  return { queue, add, expired }
}

describe('CommandDeadlines', () => {
  it('expires the commands left unanswered for the timeout, in the order they were sent, with one timer', () => {
    const { queue, add, expired } = deadlines(1000)
    const a = add('a')
    vi.advanceTimersByTime(400)
    const b = add('b', false)
    const c = add('c')
    add('d')
    expect(vi.getTimerCount()).toBe(1)
    queue.settle(c)
    vi.advanceTimersByTime(599)
    expect(expired).toEqual([])
    vi.advanceTimersByTime(1)
    expect(expired).toEqual(['a'])
    expect(a.done).toBe(true)
    vi.advanceTimersByTime(400)
    expect(expired).toEqual(['a', 'b', 'd'])
    expect(b.tracked).toBe(false)
    expect(vi.getTimerCount()).toBe(0)
  })

  it('never expires an answered command, even one answered behind an unanswered one', () => {
    const { queue, add, expired } = deadlines(1000)
    const slow = add('slow')
    const fast = add('fast')
    queue.settle(fast)
    vi.advanceTimersByTime(1000)
    expect(expired).toEqual(['slow'])
    // Settling a command that already expired (its answer came late) changes nothing.
    queue.settle(slow)
    vi.advanceTimersByTime(5000)
    expect(expired).toEqual(['slow'])
  })

  it('stops its timer once every command is answered, and arms it again for the next', () => {
    const { queue, add, expired } = deadlines(1000)
    const sent = Array.from({ length: 100 }, (_, i) => add(`c${i}`))
    for (const waiting of sent) queue.settle(waiting)
    expect(vi.getTimerCount()).toBe(0)
    add('next')
    expect(vi.getTimerCount()).toBe(1)
    vi.advanceTimersByTime(1000)
    expect(expired).toEqual(['next'])
  })
})
