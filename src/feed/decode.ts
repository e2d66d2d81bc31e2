/**
 * One message of stream GRANTS, read once per process: parsed, checked against the change
 * event schema, and turned into what every listener needs (the frame for `grants` and
 * `grant:<id>`, the JSON REST's `/v1/changes` answers). A message that is not a valid change
 * event (another publisher on `grants.changed.>`, a bug) is never spliced into a frame: it is
 * skipped, and its listeners learn only its sequence and subject.
 */
import { ChangeEvent, Subjects } from '../domain/events.js';
import { serverFrame } from '../domain/frames.js';
import type { FeedItem } from './types.js';

const decoder = new TextDecoder();
const SUBJECT_PREFIX = Subjects.grantChanged('');
/** What every `grant` frame starts with (serverFrame.grant puts `type` first). */
const FRAME_HEAD = '{"type":"grant",';

/** Why a message was skipped, for the log; undefined when it is a valid change event. */
export type Invalid = { reason: string };

export function decodeEvent(seq: number, subject: string, data: Uint8Array): FeedItem & { invalid?: Invalid } {
  const id = subject.slice(SUBJECT_PREFIX.length);
  let raw: unknown;
  try {
    raw = JSON.parse(decoder.decode(data));
  } catch {
    return { seq, id, change: undefined, invalid: { reason: 'not JSON' } };
  }
  // CONTRACT section 4: `seq` may be left out when it is the message's stream sequence;
  // the stream's sequence is the truth either way.
  if (typeof raw === 'object' && raw !== null && !Array.isArray(raw)) (raw as Record<string, unknown>).seq = seq;
  const parsed = ChangeEvent.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { seq, id, change: undefined, invalid: { reason: `${issue?.path.join('.') || 'event'}: ${issue?.message ?? 'invalid'}` } };
  }
  if (parsed.data.id.toLowerCase() !== id.toLowerCase()) return { seq, id, change: undefined, invalid: { reason: `id ${parsed.data.id} does not match the subject` } };
  const frame = serverFrame.grant(parsed.data);
  return { seq, id, change: parsed.data, frame, json: `{${frame.slice(FRAME_HEAD.length)}` };
}
