/**
 * Resources a test created, released in reverse order by `cleanup()` (call it from `afterEach`/`afterAll`).
 * A failing release does not stop the others; the first failure is rethrown at the end.
 */
export class Scope {
  private readonly releases: (() => unknown)[] = []

  add<T>(resource: T, release: (resource: T) => unknown): T {
    this.releases.push(() => release(resource))
    return resource
  }

  /** Runs `release` (awaiting what it returns) at cleanup. */
  defer(release: () => unknown): void {
    this.releases.push(release)
  }

  async cleanup(): Promise<void> {
    let failure: unknown
    for (const release of this.releases.splice(0).reverse()) {
      try {
        await release()
      } catch (error) {
        failure ??= error
      }
    }
    if (failure !== undefined) throw failure
  }
}
