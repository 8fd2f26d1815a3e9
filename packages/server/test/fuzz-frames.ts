import fc from 'fast-check'
import type { SanitizeMode } from '../src/sanitize.js'

/** Runs per property: a few hundred in the suite, more with `pnpm fuzz` (FUZZ_RUNS). */
export const FUZZ_RUNS = Number(process.env.FUZZ_RUNS ?? 300)

/**
 * A JSON value as a tree, so that a test knows what the text spells (escaped keys, keys JSON.stringify would not
 * write, such as an own `__proto__`) and can say what sanitising must leave.
 */
export type JsonTree =
  | { kind: 'leaf'; json: string }
  | { kind: 'array'; items: JsonTree[] }
  | { kind: 'object'; entries: { key: string; escaped: boolean; value: JsonTree }[] }

const KEYS = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('__proto__', 'constructor', 'prototype', 'a', 'b', 'polluted', '0') },
  { weight: 2, arbitrary: fc.string({ maxLength: 6 }) },
)

export const jsonTree: fc.Arbitrary<JsonTree> = fc.letrec<{ tree: JsonTree }>((tie) => ({
  tree: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.jsonValue({ maxDepth: 0 }).map((value): JsonTree => ({ kind: 'leaf', json: JSON.stringify(value) })),
    fc.array(tie('tree'), { maxLength: 4 }).map((items): JsonTree => ({ kind: 'array', items })),
    fc
      .uniqueArray(fc.record({ key: KEYS, escaped: fc.boolean(), value: tie('tree') }), {
        selector: (entry) => entry.key,
        maxLength: 4,
      })
      .map((entries): JsonTree => ({ kind: 'object', entries })),
  ),
})).tree

/** `key` as a JSON string, every character as a `\u` escape when `escaped` (JSON.parse decodes them). */
function keyText(key: string, escaped: boolean): string {
  if (!escaped) return JSON.stringify(key)
  return `"${Array.from(key, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`).join('')}"`
}

export function treeText(tree: JsonTree): string {
  if (tree.kind === 'leaf') return tree.json
  if (tree.kind === 'array') return `[${tree.items.map(treeText).join(',')}]`
  return `{${tree.entries.map((entry) => `${keyText(entry.key, entry.escaped)}:${treeText(entry.value)}`).join(',')}}`
}

/** Whether sanitising in `mode` removes this entry (the rule `sanitize.ts` documents). */
export function removedKey(key: string, value: JsonTree, mode: SanitizeMode): boolean {
  if (key === '__proto__') return true
  if (mode === 'authentication') return key === 'constructor' || key === 'prototype'
  // An object or an array; `null` and other leaves are data.
  return key === 'constructor' && value.kind !== 'leaf'
}

/** The value sanitising must leave, as JSON text (removed entries left out). */
export function sanitizedText(tree: JsonTree, mode: SanitizeMode): string {
  if (tree.kind === 'leaf') return tree.json
  if (tree.kind === 'array') return `[${tree.items.map((item) => sanitizedText(item, mode)).join(',')}]`
  const kept = tree.entries.filter((entry) => !removedKey(entry.key, entry.value, mode))
  return `{${kept.map((entry) => `${JSON.stringify(entry.key)}:${sanitizedText(entry.value, mode)}`).join(',')}}`
}

/** Depth (the value itself is level 1) and keys (object keys and array elements, every level) of the value as sent. */
export function structure(tree: JsonTree): { depth: number; keys: number } {
  if (tree.kind === 'leaf') return { depth: 0, keys: 0 }
  const children = tree.kind === 'array' ? tree.items : tree.entries.map((entry) => entry.value)
  let depth = 1
  let keys = tree.kind === 'array' ? tree.items.length : tree.entries.length
  for (const child of children) {
    const inner = structure(child)
    depth = Math.max(depth, inner.depth + 1)
    keys += inner.keys
  }
  return { depth, keys }
}

/** A client frame for a live server: text (valid UTF-8, or raw bytes that may not be) or binary. */
export interface FuzzFrame {
  data: string | Buffer
  binary: boolean
  /** Sent this many times in a row (a flood); once when absent. */
  repeat?: number
}

const text = (data: string): FuzzFrame => ({ data, binary: false })

/** A valid frame's text with a few characters inserted, removed or replaced. */
function mutate(textValue: string, edits: [number, 'insert' | 'delete' | 'replace', string][]): string {
  let out = textValue
  for (const [at, kind, piece] of edits) {
    const i = at % (out.length + 1)
    out = kind === 'insert' ? out.slice(0, i) + piece + out.slice(i) : out.slice(0, i) + (kind === 'replace' ? piece : '') + out.slice(i + 1)
  }
  return out
}

const edits = fc.array(
  fc.tuple(fc.nat(), fc.constantFrom('insert' as const, 'delete' as const, 'replace' as const), fc.string({ unit: 'binary-ascii', maxLength: 2 })),
  { minLength: 1, maxLength: 3 },
)

const objectTree = jsonTree.filter((tree) => tree.kind === 'object')

/** A frame `d` or `x` with any keys (prototype keys included, literal or escaped), as JSON text. */
const data = objectTree.map(treeText)

/** Frames a client may send, well-formed: data of any shape, prototype keys anywhere within the default depth. */
const clientFrame = fc.oneof(
  {
    weight: 8,
    arbitrary: fc
      .record({ d: data, t: fc.constantFrom('CHAT', 'TYPING', 'PING_X', 'CLIENT_VERSION'), x: fc.option(data) })
      .map(({ d, t, x }) => `{"op":0,"t":"${t}","d":${d}${x === null ? '' : `,"x":${x}`}}`),
  },
  { weight: 1, arbitrary: data.map((d) => `{"op":2,"d":${d}}`) },
  { weight: 1, arbitrary: fc.constant('{"op":11,"d":{}}') },
)

/** Prototype keys under `depth` objects, for op 0 or op 2. */
const attack = fc
  .record({
    op: fc.constantFrom(0, 2),
    depth: fc.integer({ min: 0, max: 28 }),
    key: fc.constantFrom('"__proto__"', '"\\u005f_proto__"', '"constructor"', '"\\u0063onstructor"'),
  })
  .map(({ op, depth, key }) => {
    const inner = key.includes('proto') ? `${key}:{"polluted":${op}}` : `${key}:{"prototype":{"polluted":${op}}}`
    return `{"op":${op},"t":"CHAT","d":${'{"a":'.repeat(depth)}{${inner}}${'}'.repeat(depth)}}`
  })

/** What a well-behaved client could send (the server takes all of it). */
export const validFrame: fc.Arbitrary<FuzzFrame> = fc.oneof({ weight: 4, arbitrary: clientFrame }, { weight: 1, arbitrary: attack }).map(text)

const deep = fc.integer({ min: 33, max: 3000 }).map((depth) => `{"op":0,"t":"CHAT","d":{"a":${'['.repeat(depth)}${']'.repeat(depth)}}}`)

const wide = fc
  .record({ count: fc.integer({ min: 1000, max: 30_000 }), item: fc.constantFrom('{}', '1', '[]', '"x"') })
  .map(({ count, item }) => `{"op":0,"t":"CHAT","d":{"a":[${new Array(count).fill(item).join(',')}]}}`)

/** Frames of the wrong shape, opcode, encoding, size or structure (most get the socket closed), and refused logins. */
export const hostileFrame: fc.Arbitrary<FuzzFrame> = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(clientFrame, edits).map(([frame, changes]) => text(mutate(frame, changes))) },
  {
    weight: 2,
    arbitrary: fc.tuple(fc.constantFrom(1, 3, 5, 10, 22, -1, 0.5, '"0"'), data).map(([op, d]) => text(`{"op":${op},"d":${d}}`)),
  },
  { weight: 2, arbitrary: fc.json({ maxDepth: 3 }).map(text) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 64 }).map(text) },
  { weight: 1, arbitrary: fc.constant(text('{"op":2,"d":{"ok":false}}')) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(validFrame, fc.integer({ min: 400, max: 1200 }))
      .map(([frame, repeat]): FuzzFrame => ({ ...frame, repeat })),
  },
  { weight: 1, arbitrary: deep.map(text) },
  { weight: 1, arbitrary: wide.map(text) },
  { weight: 1, arbitrary: fc.integer({ min: 30_000, max: 60_000 }).map((size) => text(`{"op":2,"d":{"t":"${'x'.repeat(size)}"}}`)) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((bytes) => ({ data: Buffer.from(bytes), binary: true })) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((bytes) => ({ data: Buffer.from(bytes), binary: false })) },
)

/** Any frame, valid or not. */
export const fuzzFrame: fc.Arbitrary<FuzzFrame> = fc.oneof({ weight: 1, arbitrary: validFrame }, { weight: 1, arbitrary: hostileFrame })

/**
 * `size` frames as one client sends them: valid ones, and in half the batches one hostile frame somewhere, so that
 * offenders live long enough to authenticate, be rate limited, and meet the hostile frame in any state.
 */
export function frameBatch(size: number): fc.Arbitrary<FuzzFrame[]> {
  return fc
    .tuple(fc.array(validFrame, { minLength: size - 1, maxLength: size - 1 }), fc.option(hostileFrame, { freq: 2 }), fc.nat())
    .map(([frames, hostile, at]) => {
      if (hostile === null) return frames
      const i = at % size
      return [...frames.slice(0, i), hostile, ...frames.slice(i)]
    })
}
