/**
 * Fixtures of suites that run the service as child processes: a private nats-server per test,
 * the children a test started killed after it, and fresh migrated databases dropped after the
 * file.
 */
import { afterAll, afterEach, beforeEach, expect } from 'vitest';
import { PrivateNats } from './nats.js';
import { createTestDatabase, type TestDatabase } from './postgres.js';
import type { Child } from './process.js';
import { startService } from './service.js';

export interface ServiceFixtures {
  readonly nats: PrivateNats;
  onCleanup(cleanup: () => Promise<void>): void;
  /** Migrates the database at `url` as `npm run migrate` does (then runs `afterMigrate`). */
  migrated(url: string): Promise<void>;
  /** A fresh, migrated database on the shared server. */
  database(): Promise<TestDatabase>;
  /** A service process on this test's nats-server, killed after the test. */
  service(env: Record<string, string>): Child;
}

export function serviceFixtures(options: { afterMigrate?: (url: string) => Promise<void> } = {}): ServiceFixtures {
  let nats: PrivateNats | undefined;
  let children: Child[] = [];
  const cleanups: (() => Promise<void>)[] = [];
  beforeEach(async () => {
    nats = await PrivateNats.start();
  });
  afterEach(async () => {
    await Promise.all(children.map((c) => c.kill('SIGKILL')));
    children = [];
    await nats?.stop();
  });
  afterAll(async () => {
    for (const cleanup of cleanups) await cleanup();
  });
  const fixtures: ServiceFixtures = {
    get nats(): PrivateNats {
      return nats!;
    },
    onCleanup(cleanup) {
      cleanups.push(cleanup);
    },
    async migrated(url) {
      const migrate = startService({ DATABASE_URL: url }, ['migrate']);
      const { code } = await migrate.exited;
      expect(code, migrate.lines.slice(-5).join('\n')).toBe(0);
      await options.afterMigrate?.(url);
    },
    async database() {
      const db = await createTestDatabase();
      cleanups.push(() => db.drop());
      await fixtures.migrated(db.url);
      return db;
    },
    service(env) {
      const child = startService({ NATS_URL: nats!.url, ...env });
      children.push(child);
      return child;
    },
  };
  return fixtures;
}
