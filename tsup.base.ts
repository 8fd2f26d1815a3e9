import type { Options } from 'tsup'

/**
 * The build every package shares: ESM and CJS from `src/index.ts`, with types. The d.ts build gets empty
 * `paths`, so that `@mesa/*` imports stay package imports instead of resolving to sibling sources through the
 * root tsconfig. Node packages by default; `options` override (core is platform-neutral, the browser client
 * targets browsers).
 */
export function packageBuild(options: Options = {}): Options {
  return {
    entry: ['src/index.ts'],
    format: ['esm', 'cjs'],
    dts: { compilerOptions: { composite: false, paths: {}, baseUrl: '.' } },
    platform: 'node',
    target: 'es2022',
    sourcemap: true,
    clean: true,
    shims: true,
    ...options,
  }
}
