// drivers.mjs — the two browsers behind one small interface for scenario.mjs:
//   chromium: Debian's /usr/bin/chromium (or $CHROMIUM) through playwright-core;
//   firefox:  Debian's /usr/bin/firefox-esr (or $FIREFOX) through puppeteer-core (WebDriver BiDi;
//             playwright needs its own patched Firefox).
// Both run headless in a throwaway profile with every connection except to loopback sent to a
// closed port (127.0.0.1:9), so the page cannot reach anything but the test's server.
// launch(name, dir) -> { evaluate(fn, arg), waitFor(fn, arg, ms), setFile(sel, path), box(sel),
//   clickOn(sel), click(x, y, {button, shift}), drag(a, b, beforeUp), key('Control+Shift+z'), type(text),
//   download(action) -> {name, data}, screenshot(path), errors: [], close() }
import { mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const VIEWPORT = { width: 1280, height: 800 };
const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

// What playwright-core and puppeteer-core share: page.mouse, page.keyboard, page.$, page.click,
// page.evaluate, page.screenshot and the pageerror / console events.
function common(page) {
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  return {
    errors,
    goto: (url) => page.goto(url),
    evaluate: (fn, arg) => page.evaluate(fn, arg),
    screenshot: (path) => page.screenshot({ path }),
    box: async (sel) => (await page.$(sel)).boundingBox(),
    clickOn: (sel) => page.click(sel),
    async click(x, y, { button = 'left', shift = false } = {}) {
      if (shift) await page.keyboard.down('Shift');
      await page.mouse.click(x, y, { button });
      if (shift) await page.keyboard.up('Shift');
    },
    async drag(a, b, beforeUp) {   // beforeUp: e.g. () => key('Escape')
      await page.mouse.move(a[0], a[1]);
      await page.mouse.down();
      await page.mouse.move(b[0], b[1], { steps: 12 });
      if (beforeUp) await beforeUp();
      await page.mouse.up();
    },
    async key(combo) {   // 'm', 'Control+z', 'Control+Shift+z'
      const keys = combo.split('+'), mods = keys.slice(0, -1);
      for (const k of mods) await page.keyboard.down(k);
      await page.keyboard.press(keys[keys.length - 1]);
      for (const k of mods.reverse()) await page.keyboard.up(k);
    },
    type: (text) => page.keyboard.type(text),
  };
}

async function chromium(dir) {
  const { chromium } = await import('playwright-core');
  const context = await chromium.launchPersistentContext(join(dir, 'profile'), {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
           '--disable-component-update', '--disable-sync', '--no-first-run',
           '--proxy-server=127.0.0.1:9'],   // loopback bypasses the proxy; everything else fails
    viewport: VIEWPORT,
    acceptDownloads: true,
  });
  const page = context.pages()[0] || await context.newPage();
  return Object.assign(common(page), {
    waitFor: (fn, arg, timeout) => page.waitForFunction(fn, arg, { timeout }),
    setFile: (sel, path) => page.setInputFiles(sel, path),
    async download(action) {
      const [d] = await Promise.all([page.waitForEvent('download', { timeout: 30000 }), action()]);
      return { name: d.suggestedFilename(), data: readFileSync(await d.path()) };
    },
    close: () => context.close(),
  });
}

async function firefox(dir) {
  const { default: puppeteer } = await import('puppeteer-core');
  const downloads = join(dir, 'downloads');
  mkdirSync(downloads);
  const browser = await puppeteer.launch({
    browser: 'firefox',
    executablePath: process.env.FIREFOX || '/usr/bin/firefox-esr',
    headless: true,
    userDataDir: join(dir, 'profile'),
    defaultViewport: VIEWPORT,
    // Release builds ignore services.settings.server without this; otherwise Firefox retries
    // its remote-settings server many times a second (against the closed proxy port).
    env: Object.assign({}, process.env, { MOZ_REMOTE_SETTINGS_DEVTOOLS: '1' }),
    extraPrefsFirefox: {
      // (puppeteer's own preferences already point updates, telemetry and the like at dummy hosts)
      'network.proxy.type': 1,   // manual proxy: all but loopback goes to a closed port
      'network.proxy.http': '127.0.0.1', 'network.proxy.http_port': 9,
      'network.proxy.ssl': '127.0.0.1', 'network.proxy.ssl_port': 9,
      'network.proxy.allow_hijacking_localhost': false,
      'network.dns.disablePrefetch': true,
      'services.settings.server': 'data:,#remote-settings-dummy/v1',   // as Mozilla's own test harness
      // downloads go straight to our folder, without a dialog
      'browser.download.folderList': 2, 'browser.download.dir': downloads, 'browser.download.useDownloadDir': true,
      'browser.download.always_ask_before_handling_new_types': false,
    },
  });
  const page = (await browser.pages())[0] || await browser.newPage();
  await page.setViewport(VIEWPORT);   // defaultViewport is not applied to the first tab
  return Object.assign(common(page), {
    waitFor: (fn, arg, timeout) => page.waitForFunction(fn, { timeout, polling: 50 }, arg),
    setFile: async (sel, path) => (await page.$(sel)).uploadFile(path),
    // BiDi downloads are not exposed by puppeteer: wait for a new complete file in the folder
    // (Firefox writes NAME.part and then renames it).
    async download(action) {
      const before = new Set(readdirSync(downloads));
      await action();
      for (const t0 = Date.now(); Date.now() - t0 < 30000; await sleep(100)) {
        const now = readdirSync(downloads);
        const name = now.find((f) => !before.has(f) && !f.endsWith('.part'));
        if (name && !now.some((f) => f.endsWith('.part')) && statSync(join(downloads, name)).size > 0)
          return { name, data: readFileSync(join(downloads, name)) };
      }
      throw new Error('no download within 30 s');
    },
    close: () => browser.close(),
  });
}

export function launch(name, dir) {
  if (name === 'chromium') return chromium(dir);
  if (name === 'firefox') return firefox(dir);
  throw new Error(`unknown browser ${name} (chromium or firefox)`);
}
