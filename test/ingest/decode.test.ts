/**
 * The I/O-free parts of ingest: a batch's plan (decode, normalise, collapse duplicates,
 * order), the rejection payload and its bound, and which database
 * errors count as data errors.
 */
import { describe, expect, it } from 'vitest';
import { planBatch, type ScrapeMessage } from '../../src/ingest/decode.js';
import { rejectionPayload } from '../../src/ingest/rejections.js';
import { isDataError, UPSERT_SQL } from '../../src/ingest/upsert.js';

const enc = new TextEncoder();
let seq = 0;
const msg = (source: string, payload: unknown): ScrapeMessage => ({
  subject: `scrape.grants.${source}`,
  data: payload instanceof Uint8Array ? payload : enc.encode(typeof payload === 'string' ? payload : JSON.stringify(payload)),
  seq: ++seq,
});

describe('ingest plan', () => {
  it('ingest plan - duplicates in one batch collapse to the last one, rows sorted by source and externalId', () => {
    const plan = planBatch([
      msg('b-src', { externalId: '2', title: 'first' }),
      msg('a-src', { externalId: '9', title: 'other source' }),
      msg('b-src', { externalId: '1', title: 'one' }),
      msg('b-src', { externalId: '2', title: 'second' }),
      msg('b-src', { externalId: 2, title: 'third (numeric id)' }),
    ]);
    expect(plan.rows.map((r) => [r.grant.source, r.grant.externalId, r.grant.title])).toEqual([
      ['a-src', '9', 'other source'],
      ['b-src', '1', 'one'],
      ['b-src', '2', 'third (numeric id)'],
    ]);
    expect(plan.duplicates).toBe(2);
    expect(plan.rejections).toEqual([]);
  });

  it('ingest plan - non-JSON, non-UTF-8 and invalid records are rejected with the record as received', () => {
    const plan = planBatch([msg('s', 'not json'), msg('s', new Uint8Array([0xff, 0xfe, 0x00])), msg('s', { externalId: 'x', title: '' }), msg('s', [1, 2])]);
    expect(plan.rows).toEqual([]);
    expect(plan.rejections.map((r) => [r.source, r.record, r.errors[0]!.path])).toEqual([
      ['s', 'not json', ''],
      ['s', '//4A', ''],
      ['s', { externalId: 'x', title: '' }, 'title'],
      ['s', [1, 2], ''],
    ]);
    expect(plan.rejections[0]!.errors[0]!.message).toMatch(/must be JSON/);
  });

  it('ingest plan - a subject with more tokens is not a source: rejected', () => {
    const plan = planBatch([{ subject: 'scrape.grants.a.b', data: enc.encode('{"externalId":"1","title":"t"}'), seq: 1 }]);
    expect(plan.rejections[0]!.errors[0]!.path).toBe('source');
  });
});

describe('ingest rejections', () => {
  it('ingest rejections - the payload is the contract shape', () => {
    expect(JSON.parse(rejectionPayload({ a: 1 }, [{ path: 'a', message: 'bad' }], 10_000))).toEqual({ record: { a: 1 }, errors: [{ path: 'a', message: 'bad' }] });
  });

  it('ingest rejections - a record too large for one message has its long strings cut and says so', () => {
    const record = { externalId: 'x', title: 'ok', description: 'd'.repeat(2_000_000) };
    const payload = rejectionPayload(record, [{ path: 'description', message: 'too long' }], 1_000_000);
    expect(Buffer.byteLength(payload)).toBeLessThan(1_000_000);
    const parsed = JSON.parse(payload);
    expect(parsed.truncated).toBe(true);
    expect(parsed.record.externalId).toBe('x');
    expect(parsed.record.description.length).toBe(1_001);
  });
});

describe('ingest retry', () => {
  it('ingest retry - data errors are isolated, connection and concurrency errors retried', () => {
    expect(isDataError({ code: '23514' })).toBe(true); // check violation
    expect(isDataError({ code: '22P02' })).toBe(true); // invalid text representation
    expect(isDataError({ code: '21000' })).toBe(true); // a row affected twice
    expect(isDataError({ code: '57P01' })).toBe(false); // admin shutdown
    expect(isDataError({ code: '40P01' })).toBe(false); // deadlock
    expect(isDataError({ code: 'ECONNREFUSED' })).toBe(false);
    expect(isDataError(new Error('Connection terminated unexpectedly'))).toBe(false);
  });

  it('ingest retry - the upsert writes only rows whose content differs', () => {
    expect(UPSERT_SQL).toMatch(/ON CONFLICT \(source, external_id\) DO UPDATE/);
    expect(UPSERT_SQL).toMatch(/IS DISTINCT FROM/);
  });
});
