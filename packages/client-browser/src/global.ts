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
} from './index.js'

;(globalThis as { Mesa?: object }).Mesa = {
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
}
