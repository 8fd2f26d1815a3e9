import { createPublicKey } from 'node:crypto'
import type { AuthenticateHandler } from '@mesa/server'
import { createRemoteJWKSet, errors, type JWTPayload, type JWTVerifyGetKey, jwtVerify, type KeyObject } from 'jose'
import type { JwtConfig } from './config.js'

/**
 * Why a token was refused, as the client is told: nothing beyond these words, so that a client probing with
 * forged tokens learns nothing about the keys or the checks. The gateway's log has the details.
 */
export const REJECTION = { invalid: 'invalid token', expired: 'token expired' } as const

/** An authentication failure the server may show the client (`expose`, the http-errors convention). */
class TokenRejected extends Error {
  readonly expose = true
}

/** The user a valid token names: its `sub`, and every claim as the user object. */
export interface JwtUser {
  id: string
  claims: JWTPayload
}

type Key = Uint8Array | KeyObject | JWTVerifyGetKey

function verificationKey(config: JwtConfig): Key {
  if (config.secret !== undefined) return new TextEncoder().encode(config.secret)
  if (config.publicKey !== undefined) return createPublicKey(config.publicKey)
  // jose fetches the set on first use, caches it, and refetches when a token names a key id it has not seen.
  return createRemoteJWKSet(new URL(config.jwksUrl!))
}

/**
 * Verifies a JWT with `jose`: signature with the configured key and algorithms, `exp` required and enforced,
 * `sub` required (the user id), `iss`/`aud` when configured. Resolves with the user; rejects with an error
 * whose message is one of `REJECTION`'s, its `cause` the reason.
 */
export function createJwtVerifier(config: JwtConfig): (token: unknown) => Promise<JwtUser> {
  const key = verificationKey(config)
  const options = {
    algorithms: config.algorithms,
    requiredClaims: ['exp', 'sub'],
    clockTolerance: config.clockTolerance,
    ...(config.issuer === undefined ? {} : { issuer: config.issuer }),
    ...(config.audience === undefined ? {} : { audience: config.audience }),
  }
  return async (token) => {
    if (typeof token !== 'string' || token.length === 0 || token.length > 16_384) {
      throw new TokenRejected(REJECTION.invalid, { cause: new Error('no token string in the authentication data') })
    }
    let payload: JWTPayload
    try {
      const verified = typeof key === 'function' ? await jwtVerify(token, key, options) : await jwtVerify(token, key, options)
      payload = verified.payload
    } catch (error) {
      const expired = error instanceof errors.JWTExpired
      throw new TokenRejected(expired ? REJECTION.expired : REJECTION.invalid, { cause: error })
    }
    if (typeof payload.sub !== 'string' || payload.sub.length === 0) {
      throw new TokenRejected(REJECTION.invalid, { cause: new Error('the token has an empty sub') })
    }
    return { id: payload.sub, claims: payload }
  }
}

/**
 * The authenticate handler for every socket: `client.authenticate({ token })`. A refused token is reported to
 * `onRejected` (for the log) and answered with the generic reason.
 */
export function jwtAuthenticateHandler(
  verify: (token: unknown) => Promise<JwtUser>,
  onRejected: (error: Error) => void,
): AuthenticateHandler<JWTPayload> {
  return (data, done) => {
    verify(data.token).then(
      (user) => done(null, { id: user.id, user: user.claims }),
      (error: Error) => {
        onRejected(error)
        done(error)
      },
    )
  }
}
