import { createLogger } from '../../src/observability/log.js';

/** A logger for code run inside a test process: silent unless TEST_LOG_LEVEL is set. */
export const testLog = createLogger({ level: (process.env.TEST_LOG_LEVEL as 'info' | undefined) ?? 'silent', release: 'test' });
