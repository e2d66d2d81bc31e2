/**
 * Publishing to stream GRANTS as a chain. Every message carries `Nats-Msg-Id` =
 * `<epoch>:<log id>`, and message i of a batch is sent with `Nats-Expected-Last-Msg-Id` =
 * the id of message i-1 (the first, the id of the last message the stream holds), so the
 * stream accepts it only directly after message i-1: a message lost on the way makes every
 * later one of the batch fail instead of landing out of order, and no other message can
 * slip in between (a message without an id clears the stream's last id, so it breaks the
 * chain too). Each acknowledgement must name stream sequence base + i + 1, the `seq` the
 * event carries. JetStream also drops a repeated id as a duplicate within its window. Any
 * failure is answered by `reconcile`, which reads what actually reached the stream after
 * the last recorded position and forgets those changes, so a change is never published
 * twice even after the duplicate window.
 *
 * # Why message ids and not `Nats-Expected-Last-Sequence`
 * After a loss the relay moves the stream's numbering forward with a purge up to a
 * sequence past its end (`advanceStream`; `first_seq` at creation needs nats-server 2.10).
 * nats-server 2.9 then assigns the right sequences but keeps checking
 * `Nats-Expected-Last-Sequence` against the old end until it restarts, which would refuse
 * every chain; the last message id survives the purge and is checked correctly.
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

/**
 * Publishes `batch` directly after stream sequence `base`, whose message has id `lastMsgId`
 * (undefined when the stream holds no message with an id: the first message is then
 * checked by its acknowledged sequence only).
 */
export async function publishChain(js: JetStreamClient, base: number, lastMsgId: string | undefined, batch: readonly Outgoing[], timeoutMs: number): Promise<void> {
  // Every publish is written to the connection before the first await, in batch order.
  const acks = batch.map(({ event, msgId }, i) => {
    const previous = i === 0 ? lastMsgId : batch[i - 1]!.msgId;
    return js.publish(Subjects.grantChanged(event.id), encoder.encode(JSON.stringify(event)), {
      msgID: msgId,
      expect: { streamName: Streams.grants, ...(previous ? { lastMsgID: previous } : {}) },
      timeout: timeoutMs,
    });
  });
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
  /** `Nats-Msg-Id` of the stream's last message; undefined when it is gone or has none. */
  lastMsgId: string | undefined;
}

/** Reads what the stream holds after `after`: the changes that reached NATS unrecorded. */
export async function readStreamTail(jsm: JetStreamManager, epoch: string, after: number): Promise<StreamTail> {
  const info = await jsm.streams.info(Streams.grants);
  const lastSeq = info.state.last_seq;
  const prefix = `${epoch}:`;
  const logIds: string[] = [];
  const first = Math.max(after + 1, info.state.first_seq);
  let lastMsgId: string | undefined;
  for (let from = first; from <= lastSeq; from += 64) {
    const seqs = Array.from({ length: Math.min(64, lastSeq - from + 1) }, (_, k) => from + k);
    const msgs = await Promise.all(seqs.map((seq) => jsm.streams.getMessage(Streams.grants, { seq }).catch(() => null)));
    for (const msg of msgs) {
      const id = msg?.header?.get('Nats-Msg-Id');
      if (id?.startsWith(prefix)) logIds.push(id.slice(prefix.length));
      if (msg?.seq === lastSeq) lastMsgId = id || undefined;
    }
  }
  if (first > lastSeq && info.state.messages > 0 && info.state.last_seq >= info.state.first_seq) {
    const last = await jsm.streams.getMessage(Streams.grants, { seq: lastSeq }).catch(() => null);
    lastMsgId = last?.header?.get('Nats-Msg-Id') || undefined;
  }
  return { lastSeq, logIds, lastMsgId };
}

/**
 * Moves the stream's numbering forward so that its next message gets sequence
 * `lastSeq + 1`: a purge of everything before that sequence (the stream is then empty and
 * remembers `lastSeq` as its end, across restarts). Only for a stream whose end is below
 * `lastSeq`.
 */
export async function advanceStream(jsm: JetStreamManager, lastSeq: number): Promise<void> {
  await jsm.streams.purge(Streams.grants, { seq: lastSeq + 1 });
  const { state } = await jsm.streams.info(Streams.grants);
  if (state.last_seq < lastSeq) throw new Error(`stream ${Streams.grants} did not move forward: it ends at ${state.last_seq}, wanted ${lastSeq}`);
}
