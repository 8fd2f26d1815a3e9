import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { afterAll, expect, it, vi } from 'vitest'

const root = new URL('../', import.meta.url)
const scratch = fileURLToPath(new URL('test/.readme/', root))

afterAll(() => rmSync(scratch, { recursive: true, force: true }))

it('runs the README example as written', async () => {
  const readme = readFileSync(new URL('README.md', root), 'utf8')
  const block = /<!-- readme-example:start -->\s*```ts\n([\s\S]*?)```\s*<!-- readme-example:end -->/.exec(readme)
  expect(block, 'README.md has a marked example').not.toBeNull()
  mkdirSync(scratch, { recursive: true })
  const file = `${scratch}example.ts`
  writeFileSync(file, block![1]!)
  const log = vi.spyOn(console, 'log').mockImplementation(() => {})
  try {
    await import(/* @vite-ignore */ file)
    expect(log).toHaveBeenCalledWith('authenticated as', { name: 'Ada' }, 'and got', 'PONG')
    expect(log).toHaveBeenCalledWith('the room said', 'hello, room', 'and 2 + 3 =', 5)
  } finally {
    log.mockRestore()
  }
})
