// Entry of the plain `<script>` build (dist/mesa.global.js): puts the API on `globalThis.Mesa` itself. esbuild's
// IIFE `globalName` would build a module-namespace object with its export helpers, about 190 B gzipped of the
// client's size budget.
import {
  AuthenticationError,
  Client,
  CloseCode,
  ConfigError,
  ConnectionClosedError,
  isTerminalCloseCode,
  MesaError,
  Message,
  ProtocolError,
  QueueFullError,
  RequestError,
  RequestRejection,
  Subscription,
  SubscriptionError,
} from './index.js'

declare global {
  /**
   * The client API that `mesa.global.js` defines when loaded by a plain `<script>` tag: `new Mesa.Client(url)`.
   * These declarations are its types (`dist/mesa.global.d.ts`); the assignment below is checked against them
   * both ways, and test/bundle.test.ts that they hold every runtime export of the package but `default`.
   */
  var Mesa: {
    AuthenticationError: typeof AuthenticationError
    Client: typeof Client
    CloseCode: typeof CloseCode
    ConfigError: typeof ConfigError
    ConnectionClosedError: typeof ConnectionClosedError
    isTerminalCloseCode: typeof isTerminalCloseCode
    MesaError: typeof MesaError
    Message: typeof Message
    ProtocolError: typeof ProtocolError
    QueueFullError: typeof QueueFullError
    RequestError: typeof RequestError
    RequestRejection: typeof RequestRejection
    Subscription: typeof Subscription
    SubscriptionError: typeof SubscriptionError
  }
}

globalThis.Mesa = {
  AuthenticationError,
  Client,
  CloseCode,
  ConfigError,
  ConnectionClosedError,
  isTerminalCloseCode,
  MesaError,
  Message,
  ProtocolError,
  QueueFullError,
  RequestError,
  RequestRejection,
  Subscription,
  SubscriptionError,
}
