/**
 * The one vocabulary of the service: stable log codes and WebSocket close codes.
 *
 * Log codes are PascalCase, never renamed once shipped (dashboards and alerts match on
 * them), and each is catalogued in docs/error-codes.md; a test keeps the two in step.
 * Close codes are fixed by CONTRACT section 5; their reasons stay under 123 bytes, the
 * limit of a WebSocket close frame.
 */

export const LogCode = {
  // start-up and lifecycle
  DatabaseUnreachable: 'DatabaseUnreachable',
  StartupFailed: 'StartupFailed',
  MigrationFailed: 'MigrationFailed',
  MigrationApplied: 'MigrationApplied',
  RoleStarted: 'RoleStarted',
  RoleNotImplemented: 'RoleNotImplemented',
  ShutdownStarted: 'ShutdownStarted',
  ShutdownStepFailed: 'ShutdownStepFailed',
  ShutdownTimeout: 'ShutdownTimeout',
  UncaughtException: 'UncaughtException',
  UnhandledRejection: 'UnhandledRejection',
  // bus
  NatsDisconnected: 'NatsDisconnected',
  NatsReconnected: 'NatsReconnected',
  NatsError: 'NatsError',
  StreamConfigured: 'StreamConfigured',
  // capture (relay)
  RelayLeaderAcquired: 'RelayLeaderAcquired',
  RelayLeaderLost: 'RelayLeaderLost',
  RelayStandby: 'RelayStandby',
  RelayIdle: 'RelayIdle',
  RelayBusy: 'RelayBusy',
  RelayDatabaseError: 'RelayDatabaseError',
  RelayListenError: 'RelayListenError',
  RelayPublishFailed: 'RelayPublishFailed',
  RelayReconciled: 'RelayReconciled',
  RelayStreamBehind: 'RelayStreamBehind',
  RelayChangeInvalid: 'RelayChangeInvalid',
  // gateway
  GatewayListening: 'GatewayListening',
  GatewayFeedFailed: 'GatewayFeedFailed',
  GatewayReplayFailed: 'GatewayReplayFailed',
  GatewaySlowConsumer: 'GatewaySlowConsumer',
  // cache and REST
  CacheConnected: 'CacheConnected',
  CacheUnavailable: 'CacheUnavailable',
  InvalidatorResumed: 'InvalidatorResumed',
  InvalidatorReset: 'InvalidatorReset',
  InvalidatorRewound: 'InvalidatorRewound',
  InvalidatorRedisError: 'InvalidatorRedisError',
  InvalidatorEventInvalid: 'InvalidatorEventInvalid',
  HttpFailed: 'HttpFailed',
  ScraperStatusInvalid: 'ScraperStatusInvalid',
  // scrapers (src/scrape)
  ScrapeRunStarted: 'ScrapeRunStarted',
  ScrapeRunFinished: 'ScrapeRunFinished',
  ScrapeRunScheduled: 'ScrapeRunScheduled',
  ScrapeRetry: 'ScrapeRetry',
  ScrapeFetchFailed: 'ScrapeFetchFailed',
  ScrapeHostBlocked: 'ScrapeHostBlocked',
  ScrapeHostProbe: 'ScrapeHostProbe',
  ScrapeHostUnblocked: 'ScrapeHostUnblocked',
  ScrapeRobotsDisallowed: 'ScrapeRobotsDisallowed',
  ScrapeRobotsUnavailable: 'ScrapeRobotsUnavailable',
  ScrapeParseFailed: 'ScrapeParseFailed',
  ScrapeRecordInvalid: 'ScrapeRecordInvalid',
  ScrapeStreamMissing: 'ScrapeStreamMissing',
  ScrapePublishFailed: 'ScrapePublishFailed',
  ScrapeStatusFailed: 'ScrapeStatusFailed',
  // ingest
  IngestBatchRetry: 'IngestBatchRetry',
  IngestBatchRecovered: 'IngestBatchRecovered',
  IngestRecordRejected: 'IngestRecordRejected',
  IngestRowRefused: 'IngestRowRefused',
  IngestRejectPublishFailed: 'IngestRejectPublishFailed',
  IngestConsumerRestarted: 'IngestConsumerRestarted',
  DatabasePoolWaiting: 'DatabasePoolWaiting',
} as const;
export type LogCode = (typeof LogCode)[keyof typeof LogCode];

/** WebSocket close codes of CONTRACT section 5, with their short reasons. */
export const CloseCode = {
  ServerShutdown: 1001,
  FrameTooLarge: 1009,
  TokenInvalid: 4001,
  Forbidden: 4003,
  RateLimited: 4008,
  TooSlow: 4009,
  MalformedFrame: 4400,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

export const closeReason: Readonly<Record<CloseCode, string>> = {
  1001: 'server shutting down',
  1009: 'frame too large',
  4001: 'token invalid or expired',
  4003: 'forbidden',
  4008: 'rate limited',
  4009: 'too slow to keep up',
  4400: 'malformed frame',
};
