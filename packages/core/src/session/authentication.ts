import { AuthenticationError } from '../errors.js'

export interface AuthenticateOptions {
  /**
   * Mesa 1.x redelivery: `true` replays what was stored while the user was away, `false` drops it. Protocol 2
   * clients also resume from their stream positions only when this is true. Default true.
   */
  shouldSync?: boolean
}

export interface Credentials {
  data: Record<string, unknown>
  shouldSync: boolean
}

interface Deferred<User> {
  resolve(user: User): void
  reject(error: AuthenticationError): void
}

/**
 * Authentication of a session: the credentials to present on every connection, the caller waiting on
 * `authenticate()`, and the timer bounding each attempt on the wire.
 */
export class Authentication<User> {
  /** What to authenticate with on the next connection; kept so reconnects re-authenticate on their own. */
  credentials: Credentials | undefined
  /** These credentials were accepted once: after a reconnect, outgoing messages wait for re-authentication. */
  accepted = false
  #waiter: Deferred<User> | undefined
  #timer: ReturnType<typeof setTimeout> | undefined

  /** Replaces the credentials; a caller still waiting on older ones is told they were superseded. */
  request(data: Record<string, unknown>, options: AuthenticateOptions): Promise<User> {
    this.fail(new AuthenticationError('superseded', 'superseded by a newer authenticate()'))
    this.credentials = { data, shouldSync: options.shouldSync ?? true }
    this.accepted = false
    return new Promise<User>((resolve, reject) => {
      this.#waiter = { resolve, reject }
    })
  }

  /** The credentials went out: bound the wait for the answer. */
  sent(timeout: number, onTimeout: () => void): void {
    this.#stopTimer()
    this.#timer = setTimeout(onTimeout, timeout)
  }

  succeed(user: User): void {
    this.#stopTimer()
    this.accepted = true
    const waiter = this.#waiter
    this.#waiter = undefined
    waiter?.resolve(user)
  }

  /** Settles a waiting caller with `error`; the credentials stay for the next connection. */
  fail(error: AuthenticationError): void {
    this.#stopTimer()
    const waiter = this.#waiter
    this.#waiter = undefined
    waiter?.reject(error)
  }

  /** Forgets the credentials (rejected by the server, or an explicit disconnect). */
  forget(error: AuthenticationError): void {
    this.fail(error)
    this.credentials = undefined
    this.accepted = false
  }

  /** Stops waiting for an answer on the wire (the socket is gone). */
  #stopTimer(): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
  }
}
