import { describe, expect, it } from 'vitest'
import { TypedEmitter } from '../src/index.js'

interface Events {
  message: [string, number]
  error: [Error]
}

describe('TypedEmitter', () => {
  it('calls listeners in order with their arguments and removes them', () => {
    const emitter = new TypedEmitter<Events>()
    const seen: string[] = []
    const first = (text: string, n: number) => seen.push(`a${text}${n}`)
    emitter.on('message', first)
    emitter.on('message', (text) => seen.push(`b${text}`))
    expect(emitter.emit('message', 'x', 1)).toBe(true)
    emitter.off('message', first)
    emitter.emit('message', 'y', 2)
    expect(seen).toEqual(['ax1', 'bx', 'by'])
    expect(emitter.listenerCount('message')).toBe(1)
  })

  it('runs once listeners a single time', () => {
    const emitter = new TypedEmitter<Events>()
    let calls = 0
    emitter.once('message', () => calls++)
    emitter.emit('message', 'a', 1)
    emitter.emit('message', 'b', 2)
    expect(calls).toBe(1)
    expect(emitter.listenerCount('message')).toBe(0)
  })

  it('does not throw on an error event nobody listens to', () => {
    const emitter = new TypedEmitter<Events>()
    expect(emitter.emit('error', new Error('peer sent garbage'))).toBe(false)
  })

  it('lets a listener remove itself or others during an emit without skipping anyone', () => {
    const emitter = new TypedEmitter<Events>()
    const seen: number[] = []
    const second = () => seen.push(2)
    emitter.on('message', () => {
      seen.push(1)
      emitter.off('message', second)
    })
    emitter.on('message', second)
    emitter.emit('message', 'a', 1)
    emitter.emit('message', 'b', 2)
    expect(seen).toEqual([1, 2, 1])
    emitter.removeAllListeners()
    expect(emitter.emit('message', 'c', 3)).toBe(false)
  })
})
