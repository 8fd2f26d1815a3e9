import type { Options } from 'tsup'

/**
 * The build every package shares: ESM and CJS from `src/index.ts`, with types. The d.ts build gets empty
 * `paths`, so that `@mesa/*` imports stay package imports instead of resolving to sibling sources through the
 * root tsconfig. Node packages by default; `options` override (core is platform-neutral, the browser client
 * targets browsers).
 *
 * The CJS build compiles `import()` to `require()`: a package loaded at run time (`@mesa/redis-adapter` for a
 * Redis URL) is then the CommonJS build, beside the CommonJS `@mesa/core` the application has. A real `import()`
 * from CommonJS would load the ESM builds, a second copy of core whose classes fail `instanceof`.
 */
export function packageBuild({ dts, ...options }: Options = {}): Options {
  return {
    entry: ['src/index.ts'],
    format: ['esm', 'cjs'],
    // `dts` options of a package (e.g. more entries) add to these.
    dts: { compilerOptions: { composite: false, paths: {}, baseUrl: '.' }, ...(typeof dts === 'object' ? dts : {}) },
    platform: 'node',
    target: 'es2022',
    sourcemap: true,
    clean: true,
    shims: true,
    esbuildOptions(esbuild, { format }) {
      if (format === 'cjs') esbuild.supported = { ...esbuild.supported, 'dynamic-import': false }
    },
    ...options,
  }
}
