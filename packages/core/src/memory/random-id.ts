/**
 * A random hex id from the Web Crypto API (Node 20 and browsers), used for stream epochs: two histories of a
 * stream must never share one, so it comes from a CSPRNG rather than Math.random or a counter.
 */
export function randomId(bytes = 12): string {
  const buffer = new Uint8Array(bytes)
  globalThis.crypto.getRandomValues(buffer)
  let id = ''
  for (const byte of buffer) id += byte.toString(16).padStart(2, '0')
  return id
}
