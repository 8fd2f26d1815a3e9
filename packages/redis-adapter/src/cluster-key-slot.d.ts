// The package (ioredis's own slot function) ships no types.
declare module 'cluster-key-slot' {
  /** The Redis Cluster hash slot of a key or channel name: CRC16 of its hash tag (or of all of it), modulo 16384. */
  function calculateSlot(key: string): number
  export default calculateSlot
}
