import { delay, waitFor } from '@mesa/test-kit'
import { describe, expect, it, vi } from 'vitest'
import { DeadlineQueue } from '../src/requests/deadline-queue.js'

describe('DeadlineQueue (one timer for every deadline)', () => {
  it('fires deadlines in time order, whatever order they were added in, and skips the cancelled ones', async () => {
    const queue = new DeadlineQueue(() => {})
    const fired: number[] = []
    const now = Date.now()
    const order = [9, 3, 7, 1, 8, 2, 6, 4, 5, 0]
    const deadlines = order.map((n) => queue.add(now + 20 + n * 5, () => fired.push(n)))
    deadlines[order.indexOf(7)]!.cancel()
    deadlines[order.indexOf(0)]!.cancel()
    // Cancelling twice, or after firing, does nothing.
    deadlines[order.indexOf(0)]!.cancel()
    expect(queue.size).toBe(8)
    await waitFor('every deadline', () => fired.length === 8)
    expect(fired).toEqual([1, 2, 3, 4, 5, 6, 8, 9])
    deadlines[order.indexOf(1)]!.cancel()
    expect(queue.size).toBe(0)
  })

  it('re-arms for an earlier deadline added later, and reports a callback that throws without stopping the others', async () => {
    const failures: unknown[] = []
    const queue = new DeadlineQueue((error) => failures.push(error))
    const fired: string[] = []
    const now = Date.now()
    queue.add(now + 200, () => fired.push('late'))
    queue.add(now + 10, () => {
      throw new Error('boom')
    })
    queue.add(now + 10, () => fired.push('early'))
    await waitFor('the early ones', () => fired.length === 1)
    expect(fired).toEqual(['early'])
    expect(failures).toEqual([new Error('boom')])
    queue.clear()
    await delay(250)
    expect(fired).toEqual(['early'])
  })

  it('arms one timer for any number of deadlines, re-armed only when an earlier one comes', () => {
    const queue = new DeadlineQueue(() => {})
    const setTimer = vi.spyOn(globalThis, 'setTimeout')
    try {
      const now = Date.now()
      for (let i = 0; i < 1000; i++) queue.add(now + 60_000 + i, () => {})
      expect(setTimer).toHaveBeenCalledTimes(1)
      queue.add(now + 30_000, () => {})
      expect(setTimer).toHaveBeenCalledTimes(2)
    } finally {
      setTimer.mockRestore()
      queue.clear()
    }
  })
})
