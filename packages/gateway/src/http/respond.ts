import type { ServerResponse } from 'node:http'
import { MesaError } from '@mesa/core'
import type { DispatchErrorCode } from '@mesa/dispatcher'

/** Error codes of the gateway's own HTTP layer (the API adds the Dispatcher's and the store's). */
export type HttpErrorCode =
  | 'unauthorized'
  | 'api-disabled'
  | 'metrics-disabled'
  | 'not-found'
  | 'method-not-allowed'
  | 'unsupported-media-type'
  | 'payload-too-large'
  | 'invalid-json'
  | 'invalid-request'
  | 'shutting-down'
  | 'too-many-streams'
  | 'internal'

/** Every `error.code` a gateway answer may carry. */
export type GatewayErrorCode = HttpErrorCode | DispatchErrorCode | 'too-many-channels' | 'store-failed' | 'adapter-failed'

/**
 * A request the gateway answers with an error: `status` and the `{ error: { code, message } }` body, with `details`
 * beside `code` and `message` (e.g. the `users` a subscribe refused).
 */
export class HttpError extends MesaError {
  declare readonly code: GatewayErrorCode
  readonly status: number
  readonly headers: Record<string, string>
  readonly details: Record<string, unknown>

  constructor(
    status: number,
    code: GatewayErrorCode,
    message: string,
    headers: Record<string, string> = {},
    details: Record<string, unknown> = {},
  ) {
    super(code, message)
    this.status = status
    this.headers = headers
    this.details = details
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = `${JSON.stringify(body)}\n`
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  })
  res.end(text)
}

/** Every error answer has this shape: `{ "error": { "code": "…", "message": "…" } }`, and maybe details after them. */
export function sendError(
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
  details: Record<string, unknown> = {},
): void {
  if (res.headersSent) {
    res.destroy()
    return
  }
  sendJson(res, status, { error: { code, message, ...details } }, headers)
}

export function sendHttpError(res: ServerResponse, error: HttpError): void {
  sendError(res, error.status, error.code, error.message, error.headers, error.details)
}
