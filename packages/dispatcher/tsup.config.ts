import { defineConfig } from 'tsup'

export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  dts: { compilerOptions: { composite: false, paths: {}, baseUrl: '.' } },
  platform: 'node',
  target: 'es2022',
  sourcemap: true,
  clean: true,
  shims: true,
})
