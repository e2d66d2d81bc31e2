// scratch: heap snapshots of the gateway before/after N subscribed connections (not committed)
import { setUp } from './env.js';
import { withWarmServer } from './memory.js';
import { connectClients } from './load-process.js';
import { CFG } from './options.js';
import { sleep } from '../common/time.js';
const env = await setUp('gateway');
await withWarmServer(env, 'gateway', async ({ server, inspector, loads }) => {
  const snap = async (file: string) => {
    await inspector.gcAndMemory();
    await inspector.call('Runtime.evaluate', { expression: `require('v8').writeHeapSnapshot('${file}')`, includeCommandLineAPI: true, returnByValue: true });
  };
  await snap('/tmp/heap-a.heapsnapshot');
  const conn = await connectClients(loads, 'gateway', server.port, CFG.memoryConnections, true, 0);
  console.error('connected', conn.ready);
  await sleep(3000);
  await snap('/tmp/heap-b.heapsnapshot');
});
process.exit(0);
