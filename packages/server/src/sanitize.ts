import { CloseCode, ProtocolError } from '@mesa/core'

/** How much structure one client frame may have (`limits.maxDepth`, `limits.maxKeys`). */
export interface ValueBounds {
  /** Deepest nesting of objects and arrays; the frame itself is level 1, its `d` level 2. */
  readonly maxDepth: number
  /** Object keys and array elements of the whole frame, every level counted (removed keys and what they held too). */
  readonly maxKeys: number
}

/**
 * What is removed from a client's value, at every depth:
 * - `'message'` (op 0 `d` and `x`, heartbeat acks): own `__proto__` keys, and `constructor` keys whose value is
 *   an object or array. A naive deep merge follows `constructor` into the `Object` function and `__proto__`
 *   into `Object.prototype`; without those keys nothing it writes leaves the merged object. `constructor` with a
 *   string or number value (`{ "constructor": "Ferrari" }`) and `prototype` keys are data and stay. This is
 *   `secure-json-parse` with `protoAction: 'remove'` and `constructorAction: 'remove'`, except that it removes a
 *   `constructor` object whatever it holds (it only removes one holding `prototype`): merged into `Object`,
 *   `{ "constructor": { "assign": 1 } }` would replace `Object.assign` for the whole process.
 * - `'authentication'` (op 2, its `d` and `x`): every object loses its prototype (`Object.create(null)` objects),
 *   and the keys `__proto__`, `constructor` and `prototype` are removed whatever their value (the README's
 *   promise for authentication data, which is small and read once).
 * Objects are changed in place: they are the fresh result of `JSON.parse` and nobody else holds them.
 */
export type SanitizeMode = 'message' | 'authentication'

/** What `preflight` found in a frame's raw text. */
export type Preflight =
  /** No removed key, no excess of depth or keys can be in it: hand the parsed value on without a walk. */
  | 'plain'
  /** Parse it, then `sanitize` it. */
  | 'walk'
  /** Refuse it without parsing. */
  | ProtocolError

/**
 * Looks at a frame's raw text before it is parsed, with native substring searches and no allocation:
 * - `'plain'` when the text spells out no removed key (JSON can only spell `__proto__` or `constructor`
 *   literally or with `\u` escapes, which `JSON.parse` decodes: any `\u` sends the frame to the walk), has too
 *   few brackets to nest deeper than `maxDepth`, and is too short to hold more than `maxKeys` keys and elements
 *   (each takes at least two characters). Ordinary messages are plain.
 * - a `ProtocolError` when the text has more brackets than `maxKeys` allows objects and arrays, and a scan that
 *   skips strings finds that many, or nesting deeper than `maxDepth`: objects are what makes `JSON.parse`
 *   expensive (a MiB of `{},` costs it hundreds of ms), so a frame of too many is refused before it is parsed.
 */
export function preflight(text: string, bounds: ValueBounds): Preflight {
  const brackets = countBrackets(text, bounds.maxKeys + 2)
  if (brackets > bounds.maxKeys + 1) return scanStructure(text, bounds) ?? 'walk'
  const plain =
    brackets <= bounds.maxDepth &&
    text.length <= 2 * bounds.maxKeys &&
    !text.includes('__proto__') &&
    !text.includes('constructor') &&
    !text.includes('\\u')
  return plain ? 'plain' : 'walk'
}

/** `{` and `[` in `text`, in strings too (an upper bound of the nesting depth and of the containers), up to `limit`. */
function countBrackets(text: string, limit: number): number {
  let count = 0
  for (let at = text.indexOf('{'); at !== -1 && count < limit; at = text.indexOf('{', at + 1)) count++
  for (let at = text.indexOf('['); at !== -1 && count < limit; at = text.indexOf('[', at + 1)) count++
  return count
}

const QUOTE = 0x22
const BACKSLASH = 0x5c
const OPEN_BRACE = 0x7b
const OPEN_BRACKET = 0x5b
const CLOSE_BRACE = 0x7d
const CLOSE_BRACKET = 0x5d

/**
 * Counts the objects and arrays of a JSON text and their nesting, outside strings; only for texts with more
 * brackets than `maxKeys` allows containers (each but the outermost is a key or element). Refusals agree with
 * the walk's: a text refused here would be refused after parsing.
 */
function scanStructure(text: string, bounds: ValueBounds): ProtocolError | undefined {
  let inString = false
  let depth = 0
  let containers = 0
  for (let i = 0; i < text.length; i++) {
    const char = text.charCodeAt(i)
    if (inString) {
      if (char === BACKSLASH) i++
      else if (char === QUOTE) inString = false
    } else if (char === QUOTE) {
      inString = true
    } else if (char === OPEN_BRACE || char === OPEN_BRACKET) {
      if (++depth > bounds.maxDepth) return tooDeep(bounds)
      if (++containers > bounds.maxKeys + 1) return tooManyKeys(bounds)
    } else if (char === CLOSE_BRACE || char === CLOSE_BRACKET) {
      depth--
    }
  }
  return undefined
}

// The walk's stack, shared by every call: a walk runs to its end synchronously, and the arrays keep their
// capacity instead of being allocated for each frame.
const pending: object[] = []
const depths: number[] = []

function tooDeep(bounds: ValueBounds): ProtocolError {
  return new ProtocolError(
    'too-deep',
    CloseCode.InvalidFrame,
    `frame nested deeper than ${bounds.maxDepth} levels (limits.maxDepth)`,
  )
}

function tooManyKeys(bounds: ValueBounds): ProtocolError {
  return new ProtocolError(
    'too-many-keys',
    CloseCode.InvalidFrame,
    `frame has more than ${bounds.maxKeys} keys and elements (limits.maxKeys)`,
  )
}

function isRemoved(key: string, value: unknown, mode: SanitizeMode): boolean {
  if (key === '__proto__') return true
  if (mode === 'authentication') return key === 'constructor' || key === 'prototype'
  return key === 'constructor' && typeof value === 'object' && value !== null
}

/** Queues `item`, a child of a node at `depth`, when it is an object or array: an error when it is one level too deep. */
function enqueue(item: unknown, depth: number, bounds: ValueBounds): ProtocolError | undefined {
  if (typeof item !== 'object' || item === null) return undefined
  if (depth >= bounds.maxDepth) return tooDeep(bounds)
  pending.push(item)
  depths.push(depth + 1)
  return undefined
}

/**
 * Walks a value parsed from a client's JSON once, without recursion (any depth is safe to walk): removes the
 * keys `mode` names, and stops at the first level beyond `maxDepth` or key beyond `maxKeys` with the
 * `ProtocolError` to close the socket with (4000). Returns undefined when the value is within its bounds.
 * What a removed key held is walked too: depth and keys bound the frame as it was sent (and parsed).
 */
export function sanitize(value: unknown, bounds: ValueBounds, mode: SanitizeMode): ProtocolError | undefined {
  let keys = 0
  let error = enqueue(value, 0, bounds)
  while (error === undefined && pending.length > 0) {
    const node = pending.pop()!
    const depth = depths.pop()!
    if (Array.isArray(node)) {
      keys += node.length
      if (keys > bounds.maxKeys) error = tooManyKeys(bounds)
      for (let i = 0; error === undefined && i < node.length; i++) error = enqueue(node[i], depth, bounds)
      continue
    }
    if (mode === 'authentication') Object.setPrototypeOf(node, null)
    const record = node as Record<string, unknown>
    // Own keys only: JSON.parse makes plain objects, and an enumerable key someone added to Object.prototype
    // must neither be counted nor walked.
    for (const key of Object.keys(record)) {
      if (++keys > bounds.maxKeys) {
        error = tooManyKeys(bounds)
        break
      }
      const item = record[key]
      if (isRemoved(key, item, mode)) delete record[key]
      error = enqueue(item, depth, bounds)
      if (error) break
    }
  }
  pending.length = 0
  depths.length = 0
  return error
}
