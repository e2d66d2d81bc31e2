/**
 * `npx tsx scripts/screenshots.ts`: the screenshots in docs/ (docs/board.png, docs/ops.png),
 * taken in Debian's Chromium from a real stack (the test harness: fresh database, private
 * nats-server, relay, gateway with ingest) filled by `npm run demo`, as a newcomer sees it.
 */
import { fileURLToPath } from 'node:url';
import { startRestStack, token } from '../test/rest/harness.js';
import { start } from '../test/support/process.js';
import { builtPages, launch, pageOrigin } from '../test/web/browser.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const pages = await builtPages();
const stack = await startRestStack({ ...(await pageOrigin()), ROLES: 'gateway,ingest,invalidator', WEB_DIR: pages.dir });
const demo = (args: string[]) => start(process.execPath, ['--import', 'tsx', 'src/cli/demo.ts', ...args], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', NATS_URL: stack.nats.url } });
const browser = await launch();
try {
  const live = demo(['--grants', '300', '--rate', '4']);
  await live.waitFor((l) => l.includes('DemoChanging'), 60_000, 'demo');
  const ops = (await browser.page()).page;
  await ops.setViewportSize({ width: 1280, height: 1100 });
  await ops.goto(`http://127.0.0.1:${stack.port}/ops#token=${await token({ sub: 'screens-ops', role: 'monitor', ttlSec: 3_600 })}`);
  const board = (await browser.page()).page;
  await board.setViewportSize({ width: 1280, height: 900 });
  await board.goto(`http://127.0.0.1:${stack.port}/?status=open#token=${await token({ sub: 'screens', ttlSec: 3_600 })}`);
  await board.waitForSelector('body[data-ready="true"]');
  await board.waitForSelector('tr.changed', { timeout: 30_000 });
  await board.screenshot({ path: 'docs/board.png' });
  await board.setViewportSize({ width: 360, height: 740 });
  await board.waitForSelector('tr.changed', { timeout: 30_000 });
  await board.screenshot({ path: 'docs/board-360.png' });
  // A minute of history on the charts.
  await new Promise((resolve) => setTimeout(resolve, 60_000));
  await ops.bringToFront();
  await ops.screenshot({ path: 'docs/ops.png', fullPage: true });
  live.proc.kill('SIGINT');
  await live.exited;
} finally {
  await browser.close();
  await stack.stop();
  await pages.cleanup();
}
process.stdout.write('docs/board.png, docs/board-360.png, docs/ops.png\n');
