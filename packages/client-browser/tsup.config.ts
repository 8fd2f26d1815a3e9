import { defineConfig } from 'tsup'

export default defineConfig([
  // For bundlers: @mesa/core stays an import so an application that also uses it gets one copy.
  {
    entry: ['src/index.ts'],
    format: ['esm', 'cjs'],
    dts: { compilerOptions: { composite: false, paths: {}, baseUrl: '.' } },
    platform: 'browser',
    target: 'es2022',
    sourcemap: true,
    // Runs in parallel with the single-file build below, which writes mesa.* into the same folder.
    clean: ['!mesa.*'],
    shims: false,
  },
  // Single files with @mesa/core inlined, for pages without a bundler: `mesa.js` for
  // `<script type="module">`, `mesa.global.js` for a plain `<script>` tag (global `Mesa`).
  {
    entry: { mesa: 'src/index.ts' },
    format: ['esm', 'iife'],
    globalName: 'Mesa',
    noExternal: ['@mesa/core'],
    platform: 'browser',
    target: 'es2022',
    minify: true,
    sourcemap: true,
    clean: false,
    dts: false,
    shims: false,
  },
])
