// @mesa/test-kit: the test harness every package's tests and the multi-process scenarios share. Browser helpers
// (Chromium, a static site) are at `@mesa/test-kit/browser`; the child side of fixtures at `@mesa/test-kit/rpc`.

// Waiting and cleaning up
export { delay, nextEvent, rejectionOf, waitFor, withTimeout } from './wait.js'
export { Scope } from './scope.js'
export { freePort, isPortFree } from './free-port.js'
export { type ProxiedConnection, TcpProxy } from './tcp-proxy.js'
export { countWrites } from './write-counter.js'

// Speaking the wire protocol
export {
  numbersOf,
  type Position,
  type Positions,
  RawClient,
  type RawClientOptions,
  type WireFrame,
} from './raw-client.js'
export { ResumingClient, type ResumingClientOptions } from './resuming-client.js'
export {
  answerTo,
  channelFrames,
  nextId,
  publications,
  resubscriptions,
  type SubscribeOptions,
  subscribe,
  unsubscribe,
  waitForChannelFrame,
  waitForPublications,
} from './channel-client.js'
export {
  answerRequests,
  authenticateInstance,
  exchange,
  refresh,
  replyTo,
  sendAcked,
  sendRequest,
} from './request-client.js'
export { authenticatedClient, resumingClients } from './clients.js'
export { ScriptedServer, type ScriptedServerOptions, ServerSide } from './scripted-server.js'
export { serverFrames } from './server-frames.js'
export { type UpgradeAnswer, upgrade } from './upgrade.js'

// Child processes and builds
export { Child, ChildCallError, type ChildEvent } from './child.js'
export { bundleFixture } from './fixture-bundle.js'
export {
  type CommandProcess,
  gatewayPid,
  jsonLines,
  listeningPort,
  type LogLine,
  runProcess,
} from './command-process.js'
export { assertBuilt, ensureBuilt, fixture, REPO_ROOT } from './builds.js'
export {
  expectNoCrash,
  type PortalProcessOptions,
  type ServerProcessOptions,
  startClientFleet,
  startDispatcher,
  startPortal,
  startPublisher,
  startServers,
  urlOf,
} from './mesa-processes.js'
export { type Scenario, scenario } from './scenario.js'

// Redis
export { LOCAL_REDIS_URL, LocalNamespaces } from './local-redis.js'
export { ask } from './redis-ask.js'
export { RedisServer, type RedisServerOptions, type RedisTarget } from './redis-server.js'
export { type ClusterShard, RedisCluster, type RedisClusterOptions } from './redis-cluster.js'
export { ClusterSlots } from './redis-cluster-slots.js'
export { MASTER_NAME, RedisSentinel, type SentinelSettings } from './redis-sentinel.js'
export { RedisSentinelGroup, type RedisSentinelGroupOptions } from './redis-sentinel-group.js'
