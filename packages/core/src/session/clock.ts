/**
 * Monotonic milliseconds. Wall-clock time can jump (NTP, the user changing the clock); deadlines measured with
 * it would fire early or never.
 */
export const now = (): number => performance.now()
