/** Sends an event to the test process (`child.events`); silently dropped once the channel is gone. */
export function report(event: { kind: string; [field: string]: unknown }): void

/** Serves `methods` (name -> async function) and tells the test process this child is ready, with `info`. */
export function serve(
  methods: Record<string, (...args: never[]) => unknown>,
  info?: Record<string, unknown>,
): void

/** The variable's value; without it, `fallback` when one was passed (even `undefined`), else an error. */
export function env(name: string): string
export function env<T>(name: string, fallback: T): string | T
