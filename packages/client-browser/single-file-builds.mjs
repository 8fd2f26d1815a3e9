// The single-file builds of the browser client, in one place for tsup.config.ts, the size check
// (scripts/check-size.mjs) and the browser tests, so that what is measured and tested is what ships.

/** esbuild options shared by every single-file build: @mesa/core inlined, minified for the browser. */
export const singleFileOptions = { bundle: true, minify: true, platform: 'browser', target: 'es2022' }

/**
 * `mesa.js` for `<script type="module">` (every export of the package); `mesa.global.js` for a plain `<script>`
 * tag, which defines the global `Mesa`. Entries are relative to this package.
 */
export const singleFileBuilds = [
  { file: 'mesa.js', entry: 'src/index.ts', format: 'esm' },
  { file: 'mesa.global.js', entry: 'src/global.ts', format: 'iife' },
]
