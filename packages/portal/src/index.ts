export { Portal, type PortalOptions } from './portal.js'
export type { PortalDelivery, PortalEventInfo, PortalEvents, UntypedMessages } from './events.js'
export { PortalClosedError, PortalHandlerError } from './errors.js'
export { REDIS_ADAPTER_PACKAGE, type RedisConnection } from './resolve-adapter.js'
