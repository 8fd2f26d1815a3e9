export {
  DEFAULT_MAX_CHANNELS_PER_USER,
  Dispatcher,
  type DispatcherOptions,
  type DispatcherSyncOptions,
  type Dispatchable,
} from './dispatcher.js'
export { DispatchEvent, type DispatchAction, type DispatchEventData, type DisconnectOptions } from './dispatch-event.js'
export { ChannelLimitError, DispatchError, type DispatchErrorCode, DispatcherClosedError } from './errors.js'
export { REDIS_ADAPTER_PACKAGE, type RedisConnection } from './resolve-adapter.js'
