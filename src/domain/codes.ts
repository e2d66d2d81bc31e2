/**
 * The one vocabulary of the service: every code a client, an operator or a script can see.
 *
 * - `LogCode`: the `code` of pino log lines (PascalCase, never renamed once shipped:
 *   dashboards and alerts match on them).
 * - `CloseCode`: WebSocket close codes of CONTRACT section 5, with reasons under 123 bytes
 *   (the limit of a close frame).
 * - `FrameError`: the `code` of `error` frames (a refused request; the connection stays).
 * - `AuthFailure`: why a token was refused: the `reason` label of
 *   `navimpact_ws_auth_failures_total`, and the code of a 401 answer.
 * - `RefusalReason`: why a WebSocket upgrade was refused (an AuthFailure, or one of its own).
 * - `HttpErrorCode`: the `error.code` of REST error bodies (CONTRACT section 6).
 * - `ClientErrorCode`: the `code` of the client SDK's own errors (beside the FrameErrors it relays).
 * - `ExitCode`: process exit codes (BSD sysexits.h where one fits).
 *
 * Each is catalogued in docs/error-codes.md; test/docs/error-codes.test.ts keeps the page
 * and this file in step.
 */

export const LogCode = {
  // start-up and lifecycle
  DatabaseUnreachable: 'DatabaseUnreachable',
  StartupFailed: 'StartupFailed',
  MigrationFailed: 'MigrationFailed',
  MigrationApplied: 'MigrationApplied',
  MigrationLockWait: 'MigrationLockWait',
  RestoreLockWait: 'RestoreLockWait',
  RoleStarted: 'RoleStarted',
  HttpListening: 'HttpListening',
  MetricsLocked: 'MetricsLocked',
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
  StreamReaderEnded: 'StreamReaderEnded',
  StreamReaderNotice: 'StreamReaderNotice',
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
  FeedEventInvalid: 'FeedEventInvalid',
  FeedStreamBroke: 'FeedStreamBroke',
  GatewayReplayFailed: 'GatewayReplayFailed',
  GatewaySlowConsumer: 'GatewaySlowConsumer',
  WebNotBuilt: 'WebNotBuilt',
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
  ScraperForgotten: 'ScraperForgotten',
  // npm run demo (src/cli/demo.ts)
  DemoPublished: 'DemoPublished',
  DemoChanging: 'DemoChanging',
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

/** Codes of `error` frames: a refused request that leaves the connection open. */
export const FrameError = {
  BadFrame: 'bad_frame',
  BadFilter: 'bad_filter',
  BadSince: 'bad_since',
  Forbidden: 'forbidden',
  TooManySubscriptions: 'too_many_subscriptions',
  NotSubscribed: 'not_subscribed',
  AuthFailed: 'auth_failed',
} as const;
export type FrameError = (typeof FrameError)[keyof typeof FrameError];

/** Why a token was refused; the `reason` label of `navimpact_ws_auth_failures_total`. */
export const AUTH_FAILURES = ['missing', 'malformed', 'expired', 'signature', 'algorithm', 'claims', 'issuer', 'audience', 'unknown_key', 'lifetime'] as const;
export type AuthFailure = (typeof AUTH_FAILURES)[number];

/** Why a WebSocket upgrade was refused before any upgrade: a token failure, or one of these. */
export const RefusalReason = {
  Origin: 'origin',
  TooManyConnections: 'too_many_connections',
  ShuttingDown: 'shutting_down',
  OverCapacity: 'over_capacity',
} as const;
export type RefusalReason = AuthFailure | (typeof RefusalReason)[keyof typeof RefusalReason];

/** `error.code` of REST error bodies (`{"error":{"code","message"}}`), besides the AuthFailure codes of a 401. */
export const HttpErrorCode = {
  InvalidQuery: 'invalid_query',
  BadFilter: 'bad_filter',
  UnknownParameter: 'unknown_parameter',
  QueryTooLong: 'query_too_long',
  InvalidCursor: 'invalid_cursor',
  InvalidId: 'invalid_id',
  NotFound: 'not_found',
  SinceExpired: 'since_expired',
  ExportInvalid: 'export_invalid',
  Forbidden: 'forbidden',
  Origin: 'origin',
  Starting: 'starting',
  Busy: 'busy',
  QueryTimeout: 'query_timeout',
  RateLimited: 'rate_limited',
  WebNotBuilt: 'web_not_built',
  Internal: 'internal',
} as const;
export type HttpErrorCode = AuthFailure | (typeof HttpErrorCode)[keyof typeof HttpErrorCode];

/** Codes of the errors the client SDK (src/client) emits or rejects with, besides the FrameErrors it relays. */
export const ClientErrorCode = {
  /** A server frame that is not JSON or fails the `ServerFrame` schema; it was ignored. */
  BadServerFrame: 'bad_server_frame',
  /** `getToken` threw or returned nothing usable; the client retries later. */
  TokenUnavailable: 'token_unavailable',
  /** The token expired (close 4001, or a static token past `exp`) and there is no `getToken`; the client stopped. */
  TokenExpired: 'token_expired',
  /** The server refused the upgrade with HTTP 401 and there is no `getToken`; the client stopped. */
  TokenRejected: 'token_rejected',
  /** Close 4003: the token may not do this (another `sub` in `auth`, a forbidden topic); the client stopped. */
  Forbidden: 'forbidden',
  /** Close 4400: the server could not read a frame of ours (a bug in the SDK); the client stopped. */
  MalformedFrame: 'malformed_frame',
  /** Close 1009: a frame of ours was too large; the client stopped. */
  FrameTooLarge: 'frame_too_large',
  /** The WebSocket could not even be created (a malformed URL, or a token a subprotocol cannot carry); the client stopped. */
  ConnectFailed: 'connect_failed',
  /** `onReload` threw or rejected. */
  ReloadFailed: 'reload_failed',
  /** A listener of ours threw; its error is the `cause`. */
  ListenerThrew: 'listener_threw',
  /** The client was closed before the request could complete. */
  Closed: 'closed',
} as const;
export type ClientErrorCode = (typeof ClientErrorCode)[keyof typeof ClientErrorCode];

/** Process exit codes of `npm start`, `npm run migrate` and the CLIs. */
export const ExitCode = {
  /** Orderly shutdown (SIGTERM or SIGINT), or a CLI that did its job. */
  Ok: 0,
  /** The shutdown deadline (SHUTDOWN_TIMEOUT) passed. */
  ShutdownDeadline: 1,
  /** Bad command-line arguments or an unknown command (EX_USAGE). */
  Usage: 64,
  /** A file that is not what the command reads, e.g. not a backup (EX_DATAERR). */
  DataError: 65,
  /** Postgres or NATS unreachable at start-up (EX_UNAVAILABLE). */
  Unavailable: 69,
  /** An unhandled error, or a failed migration (EX_SOFTWARE). */
  Software: 70,
  /** A scraper run ended blocked or failing: try again later (EX_TEMPFAIL). */
  TempFail: 75,
  /** Bad configuration (EX_CONFIG). */
  Config: 78,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];
