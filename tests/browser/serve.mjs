// serve.mjs — drives the `vlm serve` page in headless Chromium (playwright-core): opens an
// image through the file picker, clicks a point, drags a box, cycles the mask candidates and
// undoes, drops the file again, checking after each step that the overlay drawn on the page equals the mask the JSON
// API returns for the same prompt. Saves a screenshot.
// usage: node tests/browser/serve.mjs URL IMAGE OUT_DIR   (exit 0: all checks passed)
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const [url, imagePath, outDir] = process.argv.slice(2);
if (!url || !imagePath || !outDir) {
  console.error('usage: node serve.mjs URL IMAGE OUT_DIR');
  process.exit(2);
}

let passed = 0, failed = 0;
function check(cond, what) {
  if (cond) passed++;
  else { failed++; console.error('FAIL ' + what); }
}

// In the page: the overlay's coverage (alpha > 0) against the API's mask for the page's last
// request (re-sent to /v1/segment), or against a given stored result's mask.
async function compareOverlay(page, resend) {
  return page.evaluate(async (resend) => {
    const app = window.vlmApp, W = app.image.width, H = app.image.height;
    const o = app.objects[app.current];
    let bits, index, request = app.lastRequest;
    if (resend) {
      const r = await fetch('/v1/segment', { method: 'POST', body: JSON.stringify(request) }).then((x) => x.json());
      index = o.maskIndex >= 0 ? o.maskIndex : r.masks.reduce((b, m, i, a) => (m.score > a[b].score ? i : b), 0);
      const img = new Image();
      await new Promise((ok, bad) => { img.onload = ok; img.onerror = bad; img.src = 'data:image/png;base64,' + r.masks[index].png; });
      const c = document.createElement('canvas');
      c.width = W; c.height = H;
      const g = c.getContext('2d');
      g.drawImage(img, 0, 0);
      const d = g.getImageData(0, 0, W, H).data;
      bits = new Uint8Array(W * H);
      for (let i = 0; i < W * H; i++) bits[i] = d[4 * i] > 127 ? 1 : 0;
    }
    const ov = document.getElementById('overlay').getContext('2d').getImageData(0, 0, W, H).data;
    let diff = 0, area = 0, shown = 0;
    for (let i = 0; i < W * H; i++) {
      const on = ov[4 * i + 3] > 0 ? 1 : 0;
      shown += on;
      if (bits) { area += bits[i]; diff += on !== bits[i] ? 1 : 0; }
    }
    return { diff, area, shown, index, request, n_objects: app.objects.length, maskIndex: o.maskIndex,
             box: o.box, points: o.points };
  }, resend);
}

// Waits until the page has rendered after an action (and has no request in flight).
async function settle(page, rendersBefore) {
  await page.waitForFunction((n) => window.vlmApp.renders > n && window.vlmApp.pending === 0, rendersBefore,
                             { timeout: 60000 });
}
const renders = (page) => page.evaluate(() => window.vlmApp.renders);

const profile = mkdtempSync(join(tmpdir(), 'vlm-chromium-'));
let context = null;
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
           '--disable-component-update', '--disable-sync', '--no-first-run'],
    viewport: { width: 1280, height: 800 },
  });
  const page = context.pages()[0] || await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await page.goto(url);
  await page.waitForFunction(() => document.getElementById('server').textContent.length > 0, null, { timeout: 30000 });

  // open the image with the file picker; the encoder runs once
  await page.setInputFiles('#file', imagePath);
  await page.waitForFunction(() => window.vlmApp.image && !document.getElementById('stage').hidden &&
                                   document.getElementById('progress').hidden, null, { timeout: 120000 });
  const size = await page.evaluate(() => [window.vlmApp.image.width, window.vlmApp.image.height]);
  const rect = await page.locator('#prompts').boundingBox();
  const toImage = (cx, cy) => [Math.round((cx - rect.x) * size[0] / rect.width), Math.round((cy - rect.y) * size[1] / rect.height)];
  console.log(`image ${size[0]}x${size[1]} shown at ${rect.width.toFixed(0)}x${rect.height.toFixed(0)}`);

  // 1. a foreground point
  let n = await renders(page);
  const p = [rect.x + rect.width * 0.5, rect.y + rect.height * 0.56];
  await page.mouse.click(p[0], p[1]);
  await settle(page, n);
  let r = await compareOverlay(page, true);
  const want = toImage(p[0], p[1]);
  check(r.points.length === 1 && Math.abs(r.points[0][0] - want[0]) <= 1 && Math.abs(r.points[0][1] - want[1]) <= 1 &&
        r.points[0][2] === 1, `point prompt ${JSON.stringify(r.points)}, clicked at image ${want}`);
  check(r.area > 0 && r.diff === 0, `point: overlay differs from the API mask in ${r.diff} of ${r.area} pixels`);
  console.log(`point ${JSON.stringify(r.request.points)}: API mask ${r.index} ${r.area} px, overlay ${r.shown} px, ${r.diff} differ`);

  // 2. drag a box around the point
  n = await renders(page);
  const a = [rect.x + rect.width * 0.25, rect.y + rect.height * 0.2], b = [rect.x + rect.width * 0.8, rect.y + rect.height * 0.95];
  await page.mouse.move(a[0], a[1]);
  await page.mouse.down();
  await page.mouse.move(b[0], b[1], { steps: 12 });
  await page.mouse.up();
  await settle(page, n);
  r = await compareOverlay(page, true);
  const wa = toImage(a[0], a[1]), wb = toImage(b[0], b[1]);
  check(r.box && Math.abs(r.box[0] - wa[0]) <= 1 && Math.abs(r.box[1] - wa[1]) <= 1 && Math.abs(r.box[2] - wb[0]) <= 1 &&
        Math.abs(r.box[3] - wb[1]) <= 1 && r.request.box && r.request.points.length === 1,
        `box prompt ${JSON.stringify(r.box)}, dragged ${wa} -> ${wb}`);
  check(r.area > 0 && r.diff === 0, `box: overlay differs from the API mask in ${r.diff} of ${r.area} pixels`);
  console.log(`point + box ${JSON.stringify(r.request.box)}: API mask ${r.index} ${r.area} px, ${r.diff} differ`);

  // 3. cycle the candidates with the keyboard: the overlay follows the chosen mask
  n = await renders(page);
  await page.keyboard.press('m');
  await settle(page, n);
  const before = r.index;
  r = await compareOverlay(page, true);
  check(r.maskIndex === (before + 1) % 3 && r.diff === 0, `cycle: mask ${r.maskIndex} (was ${before}), ${r.diff} pixels differ`);
  console.log(`cycle (M): mask ${before} -> ${r.maskIndex}, ${r.diff} differ`);
  const candidates = await page.locator('#candidates button').count();
  check(candidates === 3, `${candidates} candidate buttons, want 3`);

  // 4. undo twice (the cycle, then the box) and redo once
  n = await renders(page);
  await page.keyboard.press('Control+z');
  await settle(page, n);
  n = await renders(page);
  await page.keyboard.press('Control+z');
  await settle(page, n);
  r = await compareOverlay(page, false);
  check(r.box === null && r.points.length === 1, `undo: box ${JSON.stringify(r.box)}, ${r.points.length} points`);
  n = await renders(page);
  await page.keyboard.press('Control+Shift+z');
  await settle(page, n);
  r = await compareOverlay(page, true);
  check(r.box !== null && r.diff === 0, `redo: box ${JSON.stringify(r.box)}, ${r.diff} pixels differ`);
  console.log(`undo/redo: ok`);

  // labels (with CLIP) arrive asynchronously; give them a moment for the screenshot
  await page.waitForFunction(() => !window.vlmApp.health.clip ||
                                   document.querySelector('#objects .labels') &&
                                   document.querySelector('#objects .labels').textContent.length > 1,
                             null, { timeout: 30000 }).catch(() => {});
  // 5. drag and drop the same file: same id (the embedding is reused), objects reset
  const b64 = readFileSync(imagePath).toString('base64');
  await page.evaluate((b64) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const dt = new DataTransfer();
    dt.items.add(new File([bytes], 'dropped.jpg', { type: 'image/jpeg' }));
    window.vlmApp.image = null;
    document.getElementById('stage-wrap').dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  }, b64);
  await page.waitForFunction(() => window.vlmApp.image && document.getElementById('progress').hidden, null, { timeout: 60000 });
  const dropped = await page.evaluate(() => [window.vlmApp.image.id, window.vlmApp.objects.length,
                                             document.getElementById('status').textContent]);
  check(/cached/.test(dropped[2]) && dropped[1] === 0, `drop: ${JSON.stringify(dropped)}`);
  console.log(`drop: image ${dropped[0]}, "${dropped[2]}"`);
  // 6. a foreground point, then a background point (right click)
  n = await renders(page);
  await page.mouse.click(p[0], p[1]);
  await settle(page, n);
  n = await renders(page);
  const q = [rect.x + rect.width * 0.85, rect.y + rect.height * 0.3];
  await page.mouse.click(q[0], q[1], { button: 'right' });
  await settle(page, n);
  r = await compareOverlay(page, true);
  check(r.points.length === 2 && r.points[1][2] === 0 && r.diff === 0,
        `background point: ${JSON.stringify(r.points)}, ${r.diff} pixels differ`);
  console.log(`right click: points ${JSON.stringify(r.points)}, ${r.diff} differ`);
  n = await renders(page);
  await page.mouse.move(a[0], a[1]);
  await page.mouse.down();
  await page.mouse.move(b[0], b[1], { steps: 12 });
  await page.mouse.up();
  await settle(page, n);

  const shot = join(outDir, 'serve-browser.png');
  await page.screenshot({ path: shot });
  console.log(`screenshot: ${shot}`);
  check(errors.length === 0, `page errors: ${errors.join('; ')}`);
} catch (e) {
  failed++;
  console.error('FAIL ' + (e && e.stack || e));
} finally {
  if (context) await context.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
