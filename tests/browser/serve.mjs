// serve.mjs — runs scenario.mjs on the `vlm serve` page at URL in one browser (drivers.mjs:
// chromium through playwright-core, firefox through puppeteer-core), headless, in a throwaway
// profile. Screenshot: OUT_DIR/serve-BROWSER.png.
// usage: node tests/browser/serve.mjs chromium|firefox URL IMAGE OUT_DIR   (exit 0: all checks passed)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launch } from './drivers.mjs';
import { run } from './scenario.mjs';

const [name, url, imagePath, outDir] = process.argv.slice(2);
if (!name || !url || !imagePath || !outDir) {
  console.error('usage: node serve.mjs chromium|firefox URL IMAGE OUT_DIR');
  process.exit(2);
}

const dir = mkdtempSync(join(tmpdir(), `vlm-${name}-`));   // profile and downloads
const t0 = Date.now();
let browser = null, result = { passed: 0, failed: 0 };
try {
  browser = await launch(name, dir);
  console.log(`${name} started in ${Date.now() - t0} ms`);
  result = await run(browser, { url, imagePath, outDir, name });
} catch (e) {
  console.error('FAIL ' + (e && e.stack || e));
  result.failed++;
} finally {
  if (browser) await browser.close().catch((e) => console.error('closing the browser: ' + e));
  rmSync(dir, { recursive: true, force: true });
}
console.log(`${name}: ${result.passed} passed, ${result.failed} failed in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
process.exit(result.failed ? 1 : 0);
