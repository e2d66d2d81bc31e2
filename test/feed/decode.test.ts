/**
 * Reading a message of stream GRANTS once (feed/decode.ts): a valid change event becomes
 * its frame and its REST JSON without the bus-only `previous`; anything else is skipped
 * with its reason, and never reaches a frame.
 */
import { describe, expect, it } from 'vitest';
import { decodeEvent } from '../../src/feed/decode.js';
import { GrantFrame } from '../../src/domain/frames.js';

const ID = '11111111-1111-4111-8111-111111111111';
const encode = (value: unknown) => new TextEncoder().encode(typeof value === 'string' ? value : JSON.stringify(value));
const grant = {
  id: ID, source: 's', externalId: 'e', title: 'T', description: null, agency: null, url: null, minAmount: null, maxAmount: 5000,
  currency: 'AUD', openDate: null, closeDate: '2026-12-31', status: 'open', categories: [], locations: ['VIC'], vicOutcomeDomain: null,
  version: 3, updatedAt: '2026-11-30T00:00:00.000Z',
};
const event = { seq: 7, op: 'update', id: ID, version: 3, grant, committedAt: '2026-11-30T00:00:00.000Z', previous: { status: 'closed' } };

describe('feed decode', () => {
  it('feed decode - a valid event: the frame is a GrantFrame, the JSON is the event without previous, seq from the stream', () => {
    const item = decodeEvent(42, `grants.changed.${ID}`, encode(event));
    expect(item.invalid).toBeUndefined();
    expect(item.change?.previous).toEqual({ status: 'closed' });
    if (!item.change) throw new Error('not decoded');
    const frame = JSON.parse((item as { frame: string }).frame);
    expect(GrantFrame.parse(frame)).toMatchObject({ type: 'grant', seq: 42, op: 'update', version: 3 });
    expect(frame).not.toHaveProperty('previous');
    const json = JSON.parse((item as { json: string }).json);
    expect(json).toEqual({ seq: 42, op: 'update', id: ID, version: 3, grant, committedAt: event.committedAt });
  });

  it('feed decode - seq may be left out of the payload (CONTRACT section 4)', () => {
    const { seq: _seq, ...withoutSeq } = event;
    expect(decodeEvent(9, `grants.changed.${ID}`, encode(withoutSeq)).change?.seq).toBe(9);
  });

  it('feed decode - not JSON, a bad field, or an id other than the subject\'s: skipped with the reason', () => {
    expect(decodeEvent(1, `grants.changed.${ID}`, encode('{"seq":1,')).invalid?.reason).toBe('not JSON');
    expect(decodeEvent(1, `grants.changed.${ID}`, encode({ ...event, version: 'three' })).invalid?.reason).toMatch(/^version: /);
    expect(decodeEvent(1, `grants.changed.${ID}`, encode({ ...event, op: 'delete' })).invalid?.reason).toMatch(/^grant: /);
    expect(decodeEvent(1, 'grants.changed.22222222-2222-4222-8222-222222222222', encode(event)).invalid?.reason).toMatch(/does not match the subject/);
    expect(decodeEvent(1, `grants.changed.${ID}`, encode([1, 2])).change).toBeUndefined();
  });
});
