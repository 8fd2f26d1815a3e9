// The inbound path of `pnpm bench`: server CPU per message received from clients, with the input checks on
// (sanitising, depth and key limits, payload limit, rate limits: what every server runs) against the same server
// built without them (the previous code path: `parseFrame` alone, no gate). Both are bundled here, the same way,
// from the sources, so that they differ only in those two modules.
import { mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const root = fileURLToPath(new URL('..', import.meta.url))
// dist/: ignored by git and lint, like every build output.
const out = fileURLToPath(new URL('./dist/', import.meta.url))

/** What the server did before the input checks: read the frame with core's `parseFrame`, nothing else. */
const UNCHECKED_CLIENT_FRAME = `
import { CloseCode, Opcode, ProtocolError } from '@mesa/core'
import { parseFrame } from '@mesa/core/server'
const CLIENT_OPCODES = new Set([Opcode.Dispatch, Opcode.Authenticate, Opcode.HeartbeatAck])
function text(data) {
  if (Buffer.isBuffer(data)) return data.toString('utf8')
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8')
  return Buffer.from(data).toString('utf8')
}
export function readClientFrame(data, isBinary) {
  if (isBinary) return { ok: false, error: new ProtocolError('binary-frame', CloseCode.UnsupportedData, 'binary frames are not accepted') }
  const parsed = parseFrame(text(data))
  if (!parsed.ok || CLIENT_OPCODES.has(parsed.frame.op)) return parsed
  return { ok: false, error: new ProtocolError('unknown-opcode', CloseCode.UnknownOpcode, 'opcode sent by servers only') }
}
`

/** A gate that lets everything through: no payload limit before authentication, no rate limit. */
const OPEN_GATE = `
export class InboundGate {
  opened() {}
  authenticated() {}
  admit() { return true }
  tooLarge() { throw new Error('unreachable') }
}
`

function substitute(files) {
  return {
    name: 'substitute',
    setup(builder) {
      builder.onLoad({ filter: /packages\/server\/src\/(client-frame|inbound-gate)\.ts$/ }, (args) => {
        const name = args.path.match(/(client-frame|inbound-gate)\.ts$/)[1]
        return files[name] === undefined ? undefined : { contents: files[name], loader: 'ts' }
      })
    },
  }
}

async function bundle(name, files) {
  const outfile = `${out}${name}.mjs`
  await build({
    entryPoints: [`${root}packages/server/src/index.ts`],
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    outfile,
    alias: { '@mesa/core/server': `${root}packages/core/src/server.ts`, '@mesa/core': `${root}packages/core/src/index.ts` },
    nodePaths: [`${root}packages/server/node_modules`],
    external: ['ws', '@mesa/redis-adapter'],
    // `debug` is CommonJS and requires Node's modules: an ES module bundle needs a `require` for it.
    banner: { js: "import { createRequire as createRequireForDebug } from 'node:module'; const require = createRequireForDebug(import.meta.url);" },
    plugins: [substitute(files)],
    logLevel: 'error',
  })
  return import(outfile)
}

/** The server module twice: `checked` as it is, `unchecked` without the input checks. */
export async function inboundVariants() {
  mkdirSync(out, { recursive: true })
  return {
    checked: await bundle('server-checked', {}),
    unchecked: await bundle('server-unchecked', { 'client-frame': UNCHECKED_CLIENT_FRAME, 'inbound-gate': OPEN_GATE }),
  }
}
