#!/usr/bin/env node
// Writes the JavaScript files of `dist` (browser-build.mjs says how each is made); tsup writes the types first.
import { mkdir, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { browserBuilds, buildBrowserFile } from './browser-build.mjs'

const root = fileURLToPath(new URL('../..', import.meta.url))
const dist = fileURLToPath(new URL('dist/', import.meta.url))
await mkdir(dist, { recursive: true })
await Promise.all(
  browserBuilds.map(async (output) => {
    const { code, map } = await buildBrowserFile(output, { root, sourcemap: true })
    await writeFile(`${dist}${output.file}`, code)
    await writeFile(`${dist}${output.file}.map`, map)
  }),
)
