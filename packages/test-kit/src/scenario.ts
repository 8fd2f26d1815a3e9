import { afterEach, beforeAll } from 'vitest'
import type { Child } from './child.js'
import { assertBuilt } from './builds.js'
import { expectNoCrash } from './mesa-processes.js'
import { Scope } from './scope.js'

export interface Scenario {
  /** What a test starts (processes, clients, Redis): released after the test, in reverse order, pass or fail. */
  readonly scope: Scope
  /** Children whose crash fails the test that started them (checked after it, before the scope is released). */
  watch(...children: Child[]): void
}

/**
 * The hooks every multi-process test file needs: before the first test, that `packages` are built; after each
 * test, that none of the children it watched crashed, then the release of everything its scope holds.
 */
export function scenario(packages: readonly string[]): Scenario {
  const scope = new Scope()
  let watched: Child[] = []
  beforeAll(() => assertBuilt(packages))
  afterEach(async () => {
    try {
      expectNoCrash(watched)
    } finally {
      watched = []
      await scope.cleanup()
    }
  })
  return {
    scope,
    watch: (...children) => {
      watched.push(...children)
    },
  }
}
