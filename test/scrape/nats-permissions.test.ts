/**
 * deploy/nats.conf as shipped, on a private nats-server: a scraper's credentials publish
 * its own source's records (through JetStream, acknowledged) and status, and are refused
 * everything else: grant changes, another source's subjects, reading the bus, and the
 * JetStream API. The test's copy of the file differs only in the listen port and the
 * store directory.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, ErrorCode, type NatsConnection } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RecordPublisher } from '../../src/scrape/publisher.js';
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
  let scraper: NatsConnection;

  beforeAll(async () => {
    const port = await freePort();
    dir = mkdtempSync(join(tmpdir(), 'navimpact-natsconf-'));
    const shipped = readFileSync(new URL('../../deploy/nats.conf', import.meta.url), 'utf8');
    const copy = shipped.replace(/^listen: .*$/m, `listen: 127.0.0.1:${port}`).replace(/store_dir: .*$/m, `store_dir: ${JSON.stringify(join(dir, 'store'))}`);
    expect(copy).not.toBe(shipped);
    writeFileSync(join(dir, 'nats.conf'), copy);
    server = start('nats-server', ['-c', join(dir, 'nats.conf')], { env: { ...process.env, ...PASSWORDS } });
    await server.waitFor((l) => l.includes('Server is ready'), 20_000, 'nats-server ready');
    url = `nats://127.0.0.1:${port}`;
    service = await connect({ servers: url, user: 'navimpact', pass: PASSWORDS.NAVIMPACT_NATS_PASSWORD });
    const jsm = await service.jetstreamManager();
    await jsm.streams.add({ name: 'SCRAPE', subjects: ['scrape.grants.>'], duplicate_window: 120_000_000_000 });
    scraper = await connect({ servers: url, user: 'scraper-grantconnect', pass: PASSWORDS.SCRAPER_GRANTCONNECT_NATS_PASSWORD });
  });

  afterAll(async () => {
    await scraper?.close();
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

  it('nats.conf - the service user has full access', async () => {
    const sub = service.subscribe('grants.changed.>', { max: 1 });
    await service.flush();
    service.publish('grants.changed.abc', '{"ok":true}');
    for await (const m of sub) expect(m.subject).toBe('grants.changed.abc');
  });
});
