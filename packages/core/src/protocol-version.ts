/** Version of the protocol this package speaks; 1 is Mesa 1.x. */
export const PROTOCOL_VERSION = 2

/**
 * WebSocket subprotocol through which a client announces protocol 2. 1.x clients offer no subprotocol,
 * so the server sends them nothing they do not know.
 */
export const SUBPROTOCOL_V2 = 'mesa.v2'

/** Hello rules of Mesa 1.x (`rules` in op 10). */
export const HelloRule = {
  EnforceEqualVersions: 'enforce_equal_versions',
  StoreMessages: 'store_messages',
  SendsUserObject: 'sends_user_object',
} as const

export type HelloRule = (typeof HelloRule)[keyof typeof HelloRule]
