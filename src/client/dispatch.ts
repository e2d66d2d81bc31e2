/**
 * What each server frame does to the client: checked against the `ServerFrame` schema, then
 * handed to the part of the client it concerns. A frame that fails the check is reported
 * ('error', `bad_server_frame`) and otherwise ignored.
 */
import { FrameError } from '../domain/codes.js';
import { ServerFrame, type Topic } from '../domain/frames.js';
import type { Connection } from './connection.js';
import type { Credentials } from './credentials.js';
import { ClientErrorCode, LiveError } from './errors.js';
import type { ConnectionState, Emit, WelcomeFrameData } from './events.js';
import type { Heartbeat } from './heartbeat.js';
import type { Reloads } from './reloads.js';
import type { Requests } from './requests.js';
import { messageText } from './socket.js';
import { parseTopic, type TopicTable } from './topics.js';

/** The parts of a `LiveClient` that server frames act on. */
export interface ClientParts {
  readonly link: Connection;
  readonly topics: TopicTable;
  readonly requests: Requests;
  readonly credentials: Credentials;
  readonly heartbeat: Heartbeat;
  readonly reloads: Reloads;
  readonly emit: Emit;
  readonly setState: (state: ConnectionState) => void;
  /** Reloads the views of `topic` (view.ts); false when the topic has none. */
  readonly reloadViews: (topic: Topic) => boolean;
}

/** Handles one message of the current socket. */
export function received(data: unknown, client: ClientParts): void {
  client.heartbeat.heard();
  const text = messageText(data);
  if (text === undefined) return badFrame(client, 'a binary frame that is not UTF-8 text');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return badFrame(client, 'a frame that is not JSON', err);
  }
  const parsed = ServerFrame.safeParse(json);
  if (!parsed.success) return badFrame(client, `a frame that fails the ServerFrame schema: ${text.slice(0, 200)}`, parsed.error);
  const frame = parsed.data;
  switch (frame.type) {
    case 'welcome':
      return welcome(client, frame);
    case 'grant':
      if (client.topics.accept(frame)) client.reloads.grant(frame);
      return;
    case 'subscribed': {
      client.requests.answered(frame.ref);
      const topic = parseTopic(frame.topic);
      const reload = client.topics.subscribed(topic, frame.seq, frame.recovered);
      client.emit('subscribed', frame);
      // A topic held by views is reloaded by them; any other by the client's reload.
      if (reload && !client.reloadViews(topic)) client.reloads.start(topic);
      return;
    }
    case 'unsubscribed':
      client.requests.answered(frame.ref);
      // Without a ref the server dropped the topic by itself (an `auth` that lowered the
      // role below what `metrics` needs): do not restore it on the next connection.
      if (frame.ref === undefined) client.topics.remove(parseTopic(frame.topic));
      return client.emit('unsubscribed', frame);
    case 'pong':
      return;
    case 'auth_ok':
      client.requests.answered(frame.ref);
      client.credentials.authenticated(frame.expiresAt);
      return client.emit('authenticated', { expiresAt: frame.expiresAt });
    case 'expiring':
      client.emit('expiring', frame);
      return void client.credentials.refresh();
    case 'metrics':
      return client.emit('metrics', frame);
    case 'error':
      return serverError(client, frame.code, frame.message, frame.ref);
  }
}

function badFrame(client: ClientParts, message: string, cause?: unknown): void {
  client.emit('error', new LiveError(ClientErrorCode.BadServerFrame, `the server sent ${message}`, { cause }));
}

function welcome(client: ClientParts, frame: WelcomeFrameData): void {
  if (!client.link.welcome(frame.session)) return;
  client.heartbeat.start(frame.heartbeatMs);
  client.credentials.accepted(frame.expiresAt);
  client.setState('open');
  client.emit('welcome', frame);
  client.emit('authenticated', { expiresAt: frame.expiresAt });
  for (const topic of client.topics.list()) client.requests.subscribe(topic);
}

function serverError(client: ClientParts, code: string, message: string, ref: string | number | undefined): void {
  const request = client.requests.answered(ref);
  let topic: Topic | undefined;
  if (request?.kind === 'subscribe') {
    topic = request.topic;
    // Retrying on every reconnect would be refused the same way: forget the topic.
    if (code === FrameError.Forbidden || code === FrameError.BadFrame || code === FrameError.BadFilter || code === FrameError.TooManySubscriptions) client.topics.remove(topic);
    // A position the server never had (a stream recreated from scratch): start afresh and reload.
    if (code === FrameError.BadSince && client.topics.has(topic)) {
      client.topics.restart(topic);
      client.requests.subscribe(topic);
      if (!client.reloadViews(topic)) client.reloads.start(topic);
    }
  }
  if (request?.kind === 'auth') client.credentials.authFailed();
  client.emit('error', new LiveError(code, message, { ref, topic }));
}
