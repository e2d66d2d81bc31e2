/**
 * Reloads after `recovered: false`, and the grant frames that pass the topic table while
 * they run.
 *
 * # Ordering
 * Grant frames pass the topic table (topics.ts) in arrival order; while a reload runs they
 * are held and handed out after it, in order, so a consumer never sees a live change before
 * the snapshot it applies to.
 */
import type { Topic } from '../domain/frames.js';
import { ClientErrorCode, LiveError } from './errors.js';
import type { Emit, GrantFrame } from './events.js';
import { fetchSnapshot } from './reload.js';

/** How a topic is reloaded: the app's `onReload`, or else a REST snapshot (see `LiveClientOptions`). */
export interface ReloadSettings {
  onReload: ((topic: Topic) => Promise<void> | void) | undefined;
  restBaseUrl: string | undefined;
  fetch: typeof fetch | undefined;
}

/** The reloads in flight and the grant frames held back for them. */
export class Reloads {
  private readonly controllers = new Set<AbortController>();
  private running = 0;
  private held: GrantFrame[] = [];

  constructor(
    private readonly settings: ReloadSettings,
    /** The token the default reload reads REST with. */
    private readonly token: () => string | undefined,
    private readonly emit: Emit,
  ) {}

  /** Hands a new grant frame to the consumer, or holds it while a reload runs. */
  grant(frame: GrantFrame): void {
    if (this.running > 0) this.held.push(frame);
    else this.emit('grant', frame);
  }

  /** After `recovered: false`: the app's `onReload`, or a REST snapshot, with live frames held meanwhile. */
  start(topic: Topic): void {
    const controller = new AbortController();
    this.controllers.add(controller);
    this.running++;
    const { onReload, restBaseUrl, fetch: fetchImpl } = this.settings;
    const run = async (): Promise<void> => {
      if (onReload) {
        try {
          await onReload(topic);
        } catch (err) {
          if (!controller.signal.aborted) this.emit('error', new LiveError(ClientErrorCode.ReloadFailed, `onReload(${topic}) failed`, { cause: err, topic }));
        }
        return;
      }
      const token = this.token();
      if (!restBaseUrl || !fetchImpl || token === undefined) {
        this.emit('reload', { topic, snapshot: null, cause: new Error('no restBaseUrl: the app reloads itself') });
        return;
      }
      try {
        const snapshot = await fetchSnapshot(restBaseUrl, topic, token, fetchImpl, controller.signal);
        if (!controller.signal.aborted) this.emit('reload', { topic, snapshot });
      } catch (err) {
        if (!controller.signal.aborted) this.emit('reload', { topic, snapshot: null, cause: err });
      }
    };
    void run().finally(() => {
      if (controller.signal.aborted) return;
      this.controllers.delete(controller);
      this.running--;
      if (this.running > 0) return;
      const held = this.held;
      this.held = [];
      for (const frame of held) this.emit('grant', frame);
    });
  }

  /** Aborts every reload and drops the held frames (the client is closing). */
  abort(): void {
    for (const controller of this.controllers) controller.abort();
    this.controllers.clear();
    this.held = [];
  }
}
