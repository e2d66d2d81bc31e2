/**
 * Publishing to stream GRANTS as a chain. Message i of a batch is sent with
 * `Nats-Expected-Last-Sequence` = base + i, so the stream accepts it only directly after
 * message i-1: a message lost on the way makes every later one of the batch fail instead
 * of landing out of order, and no other publisher can slip in between. Each message also
 * carries `Nats-Msg-Id` = `<epoch>:<log id>`, which JetStream drops as a duplicate within
 * its window. Any failure is answered by `reconcile`, which reads what actually reached
 * the stream after the last recorded position and forgets those changes, so a change is
 * never published twice even after the duplicate window.
 */
import type { JetStreamClient, JetStreamManager } from 'nats';
import { Streams, Subjects, type ChangeEvent } from '../domain/events.js';

export class ChainBrokenError extends Error {
  override name = 'ChainBrokenError';
  constructor(
    readonly index: number,
    reason: string,
    options?: ErrorOptions,
  ) {
    super(`publish ${index} of batch failed: ${reason}`, options);
  }
}

export interface Outgoing {
  event: ChangeEvent;
  msgId: string;
}

const encoder = new TextEncoder();

export async function publishChain(js: JetStreamClient, base: number, batch: readonly Outgoing[], timeoutMs: number): Promise<void> {
  // Every publish is written to the connection before the first await, in batch order.
  const acks = batch.map(({ event, msgId }, i) =>
    js.publish(Subjects.grantChanged(event.id), encoder.encode(JSON.stringify(event)), {
      msgID: msgId,
      expect: { lastSequence: base + i, streamName: Streams.grants },
      timeout: timeoutMs,
    }),
  );
  const results = await Promise.allSettled(acks);
  results.forEach((result, i) => {
    if (result.status === 'rejected') throw new ChainBrokenError(i, (result.reason as Error).message, { cause: result.reason });
    const ack = result.value;
    if (ack.duplicate) throw new ChainBrokenError(i, `duplicate of stream sequence ${ack.seq}`);
    if (ack.seq !== base + i + 1) throw new ChainBrokenError(i, `stored at ${ack.seq}, expected ${base + i + 1}`);
  });
}

export function msgIdOf(epoch: string, logId: string): string {
  return `${epoch}:${logId}`;
}

export interface StreamTail {
  lastSeq: number;
  /** Log ids of this epoch's changes found in the stream after the given position. */
  logIds: string[];
}

/** Reads what the stream holds after `after`: the changes that reached NATS unrecorded. */
export async function readStreamTail(jsm: JetStreamManager, epoch: string, after: number): Promise<StreamTail> {
  const info = await jsm.streams.info(Streams.grants);
  const lastSeq = info.state.last_seq;
  const prefix = `${epoch}:`;
  const logIds: string[] = [];
  const first = Math.max(after + 1, info.state.first_seq);
  for (let from = first; from <= lastSeq; from += 64) {
    const seqs = Array.from({ length: Math.min(64, lastSeq - from + 1) }, (_, k) => from + k);
    const msgs = await Promise.all(seqs.map((seq) => jsm.streams.getMessage(Streams.grants, { seq }).catch(() => null)));
    for (const msg of msgs) {
      const id = msg?.header?.get('Nats-Msg-Id');
      if (id?.startsWith(prefix)) logIds.push(id.slice(prefix.length));
    }
  }
  return { lastSeq, logIds };
}
