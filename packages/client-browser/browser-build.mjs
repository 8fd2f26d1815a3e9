// How every JavaScript file of @mesa/client-browser's `dist` is built, in one place for the build (build.mjs),
// the size check (scripts/check-size.mjs) and the browser tests, so that what is measured and tested is what ships.
//
// Like Preact, the package ships code that is already optimised for the browser: each file bundles the parts of
// @mesa/core the client uses (from core's sources, through the root tsconfig's `paths`), then terser compresses it
// and mangles internal property names (all but the CommonJS file, see below). An application's bundler cannot do that last step itself: it does not
// know which properties are internal. The naming convention that makes it safe is enforced by
// test/public-api.test.ts (every public member still works on the built files) and by `mangledProperties` below:
//
//   A property or method whose name starts with `_` is internal to the browser build and gets a short name.
//   No public name (in any `.d.ts` a user sees), wire field or DOM/JS name starts with `_`.
import { build } from 'esbuild'
import { minify } from 'terser'

/**
 * The outputs, entries relative to this package. `index.*` are what `import … from '@mesa/client-browser'`
 * resolves to; `mesa.js` (`<script type="module">`) is the same module under the name pages load;
 * `mesa.global.js` (a plain `<script>` tag) defines the global `Mesa`.
 */
export const browserBuilds = [
  { file: 'index.js', entry: 'src/index.ts', format: 'esm' },
  { file: 'index.cjs', entry: 'src/index.ts', format: 'cjs' },
  { file: 'mesa.js', entry: 'src/index.ts', format: 'esm' },
  { file: 'mesa.global.js', entry: 'src/global.ts', format: 'iife' },
]

/** Internal property names (the convention above) that terser shortens. */
export const mangledProperties = /^_/

/** terser's settings: three compress passes over the whole module, internal properties mangled. */
export const terserOptions = (format) => ({
  ecma: 2022,
  module: format === 'esm',
  toplevel: true,
  compress: { passes: 3, pure_getters: true, unsafe_arrows: true, unsafe_methods: true },
  mangle: { properties: { regex: mangledProperties } },
})

/**
 * Builds one output from the sources: `{ code, map }` (the map, JSON, when `sourcemap`). `root` is the repository
 * (its tsconfig resolves `@mesa/core` to core's sources).
 */
export async function buildBrowserFile({ entry, format, file }, { root, sourcemap = false }) {
  const bundled = await build({
    absWorkingDir: root,
    entryPoints: [`packages/client-browser/${entry}`],
    bundle: true,
    format,
    platform: 'browser',
    target: 'es2022',
    tsconfig: 'tsconfig.json',
    write: false,
    outfile: file,
    sourcemap: sourcemap ? 'external' : false,
    logLevel: 'silent',
  })
  const code = bundled.outputFiles.find((output) => output.path.endsWith('.js') || output.path.endsWith('.cjs'))
  const map = bundled.outputFiles.find((output) => output.path.endsWith('.map'))
  // CommonJS (`require`, for the odd bundler setup) is left as esbuild writes it: arethetypeswrong, and TypeScript
  // reading the file, find its `default` export only in esbuild's own export helpers.
  if (format === 'cjs') return { code: sourcemap ? `${code.text}//# sourceMappingURL=${file}.map\n` : code.text, map: map?.text }
  const minified = await minify(code.text, {
    ...terserOptions(format),
    sourceMap: sourcemap ? { content: map.text, url: `${file}.map` } : false,
  })
  return { code: minified.code, map: sourcemap ? minified.map : undefined }
}
