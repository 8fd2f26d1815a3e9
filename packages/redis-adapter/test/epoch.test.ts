import { describe, expect, it } from 'vitest'
import { newEpoch } from '../src/epoch.js'

describe('newEpoch', () => {
  it('gives distinct 24-hex-character epochs, across refills of its pool', () => {
    // More than two pools' worth (256 each).
    const epochs = Array.from({ length: 600 }, () => newEpoch())
    for (const epoch of epochs) expect(epoch).toMatch(/^[0-9a-f]{24}$/)
    expect(new Set(epochs).size).toBe(epochs.length)
  })
})
