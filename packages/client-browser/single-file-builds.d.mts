export declare const singleFileOptions: {
  bundle: true
  minify: true
  platform: 'browser'
  target: string
}

export declare const singleFileBuilds: readonly {
  /** Output file in `dist/`. */
  file: 'mesa.js' | 'mesa.global.js'
  /** Entry, relative to the package. */
  entry: string
  format: 'esm' | 'iife'
}[]
