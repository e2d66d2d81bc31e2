/**
 * The gateway bench's side of the load processes: the generic fleet (load-fleet.ts), and
 * `connectClients` with this bench's flags (client kinds, token secret).
 */
import { connectSpread, type LoadProcess } from './load-fleet.js';
import { CFG, JWT_SECRET } from './options.js';
import type { Target } from './wire.js';

export { LoadProcess, snapshots, startLoads } from './load-fleet.js';

/** Opens `total` clients spread over the load processes; sums their replies. */
export function connectClients(loads: LoadProcess[], target: Target, port: number, total: number, subscribe: boolean, samplers: number) {
  return connectSpread(loads, total, {
    target,
    port,
    subscribe,
    samplers,
    concurrency: 64,
    client: CFG.client,
    samplerClient: CFG.samplerClient,
    secret: JWT_SECRET,
    timeoutMs: 180_000,
  });
}
