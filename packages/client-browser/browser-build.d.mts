import type { MinifyOptions } from 'terser'

/** An output of `dist/`: its file, its entry (relative to the package) and its format. */
export interface BrowserBuild {
  file: 'index.js' | 'index.cjs' | 'mesa.js' | 'mesa.global.js'
  entry: string
  format: 'esm' | 'cjs' | 'iife'
}

export declare const browserBuilds: readonly BrowserBuild[]

export declare const mangledProperties: RegExp

export declare function terserOptions(format: BrowserBuild['format']): MinifyOptions

export declare function buildBrowserFile(
  output: BrowserBuild,
  options: { root: string; sourcemap?: boolean },
): Promise<{ code: string; map: string | undefined }>
