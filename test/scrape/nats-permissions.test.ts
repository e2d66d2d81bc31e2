/**
 * deploy/nats.conf (with nats/accounts.conf) as shipped, on a private nats-server: a
 * scraper's credentials, used as the scraper connects (its own inbox prefix,
 * src/scrape/scraper.ts), publish its own source's records (through JetStream,
 * acknowledged) and status, and are refused everything else: grant changes, another
 * source's subjects, reading the bus, the JetStream API, and the service's inboxes, where
 * GRANTS deliveries, ingest's pulls and JetStream API replies travel. The test's copy of the
 * file differs only in the listen port and the store directory.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AckPolicy, connect, ErrorCode, type Msg, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadScrapeConfig } from '../../src/scrape/config.js';
import { RecordPublisher } from '../../src/scrape/publisher.js';
import { natsOptions } from '../../src/scrape/scraper.js';
import { freePort } from '../support/ports.js';
import { start, type Child } from '../support/process.js';

const PASSWORDS = {
  NAVIMPACT_NATS_PASSWORD: 'service-secret-for-tests',
  SCRAPER_GRANTCONNECT_NATS_PASSWORD: 'grantconnect-secret-for-tests',
  SCRAPER_VIC_GOV_AU_NATS_PASSWORD: 'vic-secret-for-tests',
};

/**
 * Resolves with the first permissions violation the connection reports (nats.js puts the
 * refused operation and subject in the status's `permissionContext`) that passes `test`,
 * as `publish to "subject"` or `subscription to "subject"`.
 */
/** Every permissions violation the scraper's connection was told of, as `subscription to "subject"`. */
const violations: string[] = [];

async function collectViolations(nc: NatsConnection): Promise<void> {
  for await (const s of nc.status()) {
    const ctx = (s as { permissionContext?: { operation: string; subject: string } }).permissionContext;
    if (s.type === 'error' && s.data === ErrorCode.PermissionsViolation && ctx) violations.push(`${ctx.operation} to "${ctx.subject}"`);
  }
}

/**
 * The mux inbox of a service request or delivery: a second service connection, which may
 * read every inbox, sees the subject `operation` makes the server deliver to, and the
 * subscription that would catch every such message (`_INBOX.<id>.*`) is returned with it.
 */
async function inboxOf(sniffer: NatsConnection, operation: () => Promise<unknown>, test: (m: Msg) => boolean): Promise<{ subject: string; wildcard: string }> {
  const sub = sniffer.subscribe('_INBOX.>');
  await sniffer.flush();
  await operation();
  for await (const m of sub) {
    if (!test(m)) continue;
    sub.unsubscribe();
    const tokens = m.subject.split('.');
    return { subject: m.subject, wildcard: [...tokens.slice(0, -1), '*'].join('.') };
  }
  throw new Error('no inbox traffic seen');
}

const text = (m: Msg) => new TextDecoder().decode(m.data);

async function permissionError(nc: NatsConnection, test: (text: string) => boolean): Promise<string> {
  for await (const s of nc.status()) {
    const ctx = (s as { permissionContext?: { operation: string; subject: string } }).permissionContext;
    if (s.type !== 'error' || s.data !== ErrorCode.PermissionsViolation || !ctx) continue;
    const text = `${ctx.operation} to "${ctx.subject}"`;
    if (test(text)) return text;
  }
  throw new Error('connection closed before the permissions error');
}

describe('scrape nats permissions (deploy/nats.conf)', () => {
  let server: Child;
  let dir: string;
  let url: string;
  let service: NatsConnection;
  let sniffer: NatsConnection;
  let scraper: NatsConnection;

  beforeAll(async () => {
    const port = await freePort();
    dir = mkdtempSync(join(tmpdir(), 'navimpact-natsconf-'));
    const shipped = readFileSync(new URL('../../deploy/nats.conf', import.meta.url), 'utf8');
    const copy = shipped.replace(/^listen: .*$/m, `listen: 127.0.0.1:${port}`).replace(/store_dir: .*$/m, `store_dir: ${JSON.stringify(join(dir, 'store'))}`);
    expect(copy).not.toBe(shipped);
    writeFileSync(join(dir, 'nats.conf'), copy);
    mkdirSync(join(dir, 'nats'));
    writeFileSync(join(dir, 'nats', 'accounts.conf'), readFileSync(new URL('../../deploy/nats/accounts.conf', import.meta.url)));
    server = start('nats-server', ['-c', join(dir, 'nats.conf')], { env: { ...process.env, ...PASSWORDS } });
    await server.waitFor((l) => l.includes('Server is ready'), 20_000, 'nats-server ready');
    url = `nats://127.0.0.1:${port}`;
    service = await connect({ servers: url, user: 'navimpact', pass: PASSWORDS.NAVIMPACT_NATS_PASSWORD });
    sniffer = await connect({ servers: url, user: 'navimpact', pass: PASSWORDS.NAVIMPACT_NATS_PASSWORD });
    const jsm = await service.jetstreamManager();
    await jsm.streams.add({ name: 'SCRAPE', subjects: ['scrape.grants.>'], duplicate_window: 120_000_000_000 });
    scraper = await scraperConnection('grantconnect', PASSWORDS.SCRAPER_GRANTCONNECT_NATS_PASSWORD);
    void collectViolations(scraper);
  });

  /** A scraper's connection exactly as `npm run scrape` makes it (src/scrape/scraper.ts). */
  function scraperConnection(source: string, password: string): Promise<NatsConnection> {
    const config = loadScrapeConfig({ NATS_URL: url, NATS_USER: `scraper-${source}`, NATS_PASSWORD: password, SCRAPER_CONTACT: 'ops@example.org' });
    return connect({ ...natsOptions(config, source), maxReconnectAttempts: 0 });
  }

  afterAll(async () => {
    await scraper?.close();
    await sniffer?.close();
    await service?.close();
    await server?.kill();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('nats.conf - a wrong password is refused', async () => {
    await expect(connect({ servers: url, user: 'scraper-grantconnect', pass: 'wrong', reconnect: false })).rejects.toThrow(/authorization/i);
  });

  it('nats.conf - a scraper publishes its own records through JetStream and its own status', async () => {
    const ack = await new RecordPublisher(scraper, 'grantconnect', 5_000).publish({ externalId: 'GO1', title: 'Allowed' });
    expect(ack).toBe('published');
    const statusSub = service.subscribe('scrape.status.grantconnect', { max: 1 });
    await service.flush();
    scraper.publish('scrape.status.grantconnect', JSON.stringify({ state: 'ok', at: new Date().toISOString() }));
    for await (const m of statusSub) expect(m.json()).toMatchObject({ state: 'ok' });
    const info = await (await service.jetstreamManager()).streams.info('SCRAPE');
    expect(info.state.messages).toBe(1);
  });

  it('nats.conf - a scraper is refused on grants.changed.x', async () => {
    const refused = permissionError(scraper, (t) => t.includes('grants.changed.x'));
    const leaked = service.subscribe('grants.changed.>');
    await service.flush();
    scraper.publish('grants.changed.x', '{}');
    expect(await refused).toMatch(/publish to "grants\.changed\.x"/i);
    // Nothing reached a subscriber: a message published after it arrives first, alone.
    const marker = service.subscribe('scrape.status.grantconnect', { max: 1 });
    await service.flush();
    scraper.publish('scrape.status.grantconnect', 'marker');
    for await (const _ of marker) break;
    await service.flush();
    expect(leaked.getProcessed()).toBe(0);
    leaked.unsubscribe();
  });

  it('nats.conf - a scraper is refused on another source\'s subjects, through JetStream too', async () => {
    const refusedStatus = permissionError(scraper, (t) => t.includes('scrape.status.vic-gov-au'));
    scraper.publish('scrape.status.vic-gov-au', '{}');
    expect(await refusedStatus).toMatch(/publish to "scrape\.status\.vic-gov-au"/i);

    const refusedGrants = permissionError(scraper, (t) => t.includes('scrape.grants.vic-gov-au'));
    const publish = new RecordPublisher(scraper, 'vic-gov-au', 1_500).publish({ externalId: 'X', title: 'Not mine' });
    expect(await refusedGrants).toMatch(/publish to "scrape\.grants\.vic-gov-au"/i);
    await expect(publish).rejects.toThrow();
    const info = await (await service.jetstreamManager()).streams.info('SCRAPE');
    expect(info.state.subjects ?? {}).not.toHaveProperty('scrape.grants.vic-gov-au');
  });

  it('nats.conf - a scraper can neither read the bus nor use the JetStream API', async () => {
    const refusedSub = permissionError(scraper, (t) => /subscription/i.test(t) && t.includes('scrape.grants.>'));
    scraper.subscribe('scrape.grants.>');
    expect(await refusedSub).toMatch(/subscription to "scrape\.grants\.>"/i);

    const refusedApi = permissionError(scraper, (t) => t.includes('$JS.API.STREAM.DELETE.SCRAPE'));
    scraper.publish('$JS.API.STREAM.DELETE.SCRAPE');
    expect(await refusedApi).toMatch(/\$JS\.API\.STREAM\.DELETE\.SCRAPE/);
    expect((await (await service.jetstreamManager()).streams.info('SCRAPE')).config.name).toBe('SCRAPE');
  });

  /**
   * The scraper subscribes to each of `subjects` (each must be refused) and publishes each
   * of `publishes` (each must be refused), then the service does `again`: nothing may reach
   * the scraper. Both flushes make sure a leaked message would have arrived by the end.
   */
  async function attempt(subjects: string[], again: () => Promise<unknown>, publishes: { subject: string; reply: string }[] = []) {
    const received: Msg[] = [];
    const before = violations.length;
    const collect = (err: unknown, m: Msg) => {
      if (!err) received.push(m);
    };
    for (const subject of subjects) scraper.subscribe(subject, { callback: collect });
    for (const p of publishes) {
      scraper.subscribe(p.reply, { callback: collect });
      scraper.publish(p.subject, '{"batch":1}', { reply: p.reply });
    }
    await scraper.flush();
    const expected = [...subjects.map((s) => `subscription to "${s}"`), ...publishes.map((p) => `publish to "${p.subject}"`)];
    await expect.poll(() => violations.slice(before).map((v) => v.toLowerCase()), { timeout: 5_000 }).toEqual(expect.arrayContaining(expected.map((e) => e.toLowerCase())));
    await again();
    await service.flush();
    await scraper.flush();
    expect(received.map((m) => m.subject)).toEqual([]);
  }

  it('nats.conf - a scraper cannot receive a GRANTS delivery', async () => {
    const jsm = await service.jetstreamManager();
    await jsm.streams.add({ name: 'GRANTS', subjects: ['grants.changed.>'] });
    await jsm.consumers.add('GRANTS', { durable_name: 'feed', ack_policy: AckPolicy.None });
    const js = service.jetstream();
    const feed = await js.consumers.get('GRANTS', 'feed');
    const deliver = async (marker: string) => {
      await js.publish('grants.changed.a', JSON.stringify({ marker }));
      const m = await feed.next({ expires: 5_000 });
      expect(m?.string()).toContain(marker);
    };
    const inbox = await inboxOf(sniffer, () => deliver('first-delivery'), (m) => text(m).includes('first-delivery'));
    await attempt(['_INBOX.>', inbox.subject, inbox.wildcard], () => deliver('second-delivery'));
  });

  it('nats.conf - a scraper cannot receive an ingest pull of another source\'s records', async () => {
    const vic = await scraperConnection('vic-gov-au', PASSWORDS.SCRAPER_VIC_GOV_AU_NATS_PASSWORD);
    try {
      const jsm = await service.jetstreamManager();
      await jsm.consumers.add('SCRAPE', { durable_name: 'ingest', ack_policy: AckPolicy.Explicit, filter_subject: 'scrape.grants.vic-gov-au' });
      const ingest = await service.jetstream().consumers.get('SCRAPE', 'ingest');
      const pull = async (title: string) => {
        expect(await new RecordPublisher(vic, 'vic-gov-au', 5_000).publish({ externalId: title, title })).toBe('published');
        const m = await ingest.next({ expires: 5_000 });
        expect(m?.string()).toContain(title);
        m?.ack();
      };
      const inbox = await inboxOf(sniffer, () => pull('Vic record one'), (m) => text(m).includes('Vic record one'));
      await attempt(['_INBOX.>', inbox.subject, inbox.wildcard, '_INBOX_scraper_vic-gov-au.>'], () => pull('Vic record two'), [
        // Nor pull the records itself, with the reply to its own inbox.
        { subject: '$JS.API.CONSUMER.MSG.NEXT.SCRAPE.ingest', reply: '_INBOX_scraper_grantconnect.stolen' },
      ]);
    } finally {
      await vic.close();
    }
  });

  it('nats.conf - a scraper cannot receive a JetStream API reply', async () => {
    const jsm = await service.jetstreamManager();
    const ask = async () => expect((await jsm.streams.info('SCRAPE')).config.name).toBe('SCRAPE');
    const inbox = await inboxOf(sniffer, ask, (m) => text(m).includes('stream_info_response'));
    await attempt(['_INBOX.>', inbox.subject, inbox.wildcard], ask);
  });

  it('nats.conf - the service user has full access', async () => {
    const sub = service.subscribe('grants.changed.>', { max: 1 });
    await service.flush();
    service.publish('grants.changed.abc', '{"ok":true}');
    for await (const m of sub) expect(m.subject).toBe('grants.changed.abc');
  });
});
