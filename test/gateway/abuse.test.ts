/**
 * Hostile and slow clients against the real service: a flood of malformed frames, and a
 * client that stops reading while 50 MB of events are published.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { hasCode } from '../support/service.js';
import { Client, connect, inParallel, startStack, token, type Stack } from './harness.js';

const stacks: Stack[] = [];
afterAll(async () => {
  for (const s of stacks) await s.stop();
});

function rss(pid: number): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb) * 1_024;
}

describe('abuse', () => {
  it('abuse - 10,000 malformed frames each get an error frame or their close code; the gateway and other clients carry on', async () => {
    const stack = await startStack({ GATEWAY_RATE_LIMIT: '100000', GATEWAY_MAX_CONNECTIONS_PER_SUB: '100000', GATEWAY_ACCEPT_RATE: '100000' });
    stacks.push(stack);
    const healthy = await connect(stack.port, { token: await token({ sub: 'healthy' }) });
    healthy.send({ type: 'subscribe', topic: 'grants' });
    await healthy.next((f) => f.type === 'subscribed');
    const { rows } = await stack.sql("INSERT INTO grants (title) SELECT 'Flood ' || g FROM generate_series(1, 50) g RETURNING id");
    const ids = rows.map((r) => (r as { id: string }).id);
    const writer = (async () => {
      for (let i = 0; i < 20; i++) await stack.sql('UPDATE grants SET description = $2 WHERE id = ANY($1)', [ids, `round ${i}`]);
    })();

    // 6,000 frames that parse as JSON but are not valid requests: an error frame each.
    const invalid: unknown[] = [
      { type: 'subscribe' },
      { type: 'subscribe', topic: 'grant:123' },
      { type: 'subscribe', topic: 'grants', since: 'yesterday' },
      { type: 'unsubscribe', topic: null },
      { type: 'auth' },
      { type: 'auth', token: 42 },
      { type: 'ping', extra: 1 },
      { type: 'PING' },
      { type: 'drop tables' },
      [],
      'subscribe',
      42,
      null,
      { topic: 'grants' },
    ];
    const persistent: Client[] = await Promise.all(Array.from({ length: 20 }, async (_, i) => connect(stack.port, { token: await token({ sub: `p${i}` }) })));
    for (const c of persistent) for (let i = 0; i < 300; i++) c.ws.send(JSON.stringify(invalid[i % invalid.length]));
    await Promise.all(persistent.map((c) => c.next(() => c.ofType('error').length >= 300, 30_000, '300 error frames'))).catch((err: unknown) => {
      const states = persistent.map((c) => `${c.ws.readyState}/${c.ofType('error').length}`).join(' ');
      throw new Error(`${(err as Error).message}\nclients (readyState/errors): ${states}\ngateway said:\n${stack.gateway.lines.slice(-20).join('\n')}`);
    });
    for (const c of persistent) {
      expect(c.ofType('error')).toHaveLength(300);
      expect(c.ofType('error').every((f) => f.code === 'bad_frame')).toBe(true);
      expect(c.ws.readyState).toBe(c.ws.OPEN);
    }

    // 4,000 frames that end their connection with the documented code.
    const viewer = await token({ sub: 'fatal' });
    const fatal: [string, number, number, (c: Client) => void][] = [
      ['bad JSON', 1_500, 4400, (c) => c.send('{"type":"subscribe","topic":')],
      ['binary', 1_500, 4400, (c) => c.ws.send(Buffer.from('{"type":"ping"}'), { binary: true })],
      ['oversize', 1_000, 1009, (c) => c.send({ type: 'ping', ref: 'x'.repeat(20_000) })],
    ];
    for (const [name, count, code, send] of fatal) {
      await inParallel(count, 100, async () => {
        const c = await connect(stack.port, { token: viewer });
        send(c);
        expect((await c.closed).code, name).toBe(code);
      });
    }
    await writer;
    // Other clients were not affected: every event reached the healthy one, which still answers.
    await healthy.next(() => healthy.ofType('grant').length >= 50 + 20 * 50, 30_000, 'every event at the healthy client');
    healthy.send({ type: 'ping', ref: 'after' });
    await healthy.next((f) => f.ref === 'after');
    for (const c of persistent) c.close();
    healthy.close();
    expect(stack.gateway.running).toBe(true);
    expect(stack.gateway.lines.filter((l) => /"level":"(error|fatal)"/.test(l))).toEqual([]);
  }, 120_000);

  it('abuse - a client that stops reading while 50 MB are published is closed with 4009; the gateway\'s RSS grows by less than twice the bound', async () => {
    const bound = 8 * 1_048_576;
    const stack = await startStack({ GATEWAY_MAX_BUFFER: String(bound) });
    stacks.push(stack);
    const pid = stack.gateway.proc.pid!;
    const { rows } = await stack.sql("INSERT INTO grants (title) SELECT 'Big ' || g FROM generate_series(1, 10) g RETURNING id");
    const ids = rows.map((r) => (r as { id: string }).id);
    const reader = await connect(stack.port, { token: await token({ sub: 'reader' }) });
    reader.send({ type: 'subscribe', topic: 'grants' });
    await reader.next((f) => f.type === 'subscribed');
    // 100 statements x 10 rows x 50 KB descriptions = 50 MB of frames per round.
    const round = async (tag: string) => {
      const seen = reader.ofType('grant').length;
      for (let i = 0; i < 100; i++) await stack.sql(`UPDATE grants SET description = repeat($2, 3200) || $3 WHERE id = ANY($1)`, [ids, `${tag}-${i}`.padEnd(16, '.'), i]);
      await reader.next(() => reader.ofType('grant').length >= seen + 1_000, 60_000, `round ${tag} at the reader`);
      reader.frames.length = 0;
    };
    // The same 50 MB with no slow client first, twice: the gateway's heap grows to its working
    // size, and the highest RSS of those rounds is the baseline, so that what is compared is
    // what the slow client adds, not how far the garbage collector lets the heap swing under
    // this load (one warm round: rises of 10.9-13.5 MB alone, 17.8 MB once in the full suite).
    let warmPeak = rss(pid);
    const warmSampler = setInterval(() => (warmPeak = Math.max(warmPeak, rss(pid))), 20);
    await round('warm-1');
    await round('warm-2');
    clearInterval(warmSampler);
    const before = Math.max(warmPeak, rss(pid));
    const slow = await connect(stack.port, { token: await token({ sub: 'slow' }) });
    slow.send({ type: 'subscribe', topic: 'grants' });
    await slow.next((f) => f.type === 'subscribed');
    const socket = (slow.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    socket.pause();
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, rss(pid))), 20);
    await round('slow');
    await stack.gateway.waitFor(hasCode('GatewaySlowConsumer'), 30_000, 'the gateway to give up on the slow client');
    clearInterval(sampler);
    peak = Math.max(peak, rss(pid));
    socket.resume();
    expect([4009, 1006]).toContain((await slow.closed).code);
    console.info(`gateway RSS ${(before / 1e6).toFixed(1)} MB -> peak ${(peak / 1e6).toFixed(1)} MB (bound ${(bound / 1e6).toFixed(1)} MB)`);
    expect(peak - before).toBeLessThan(2 * bound);
    reader.close();
  }, 180_000);
});
