// scenario.mjs — what the browser tests do on the `vlm serve` page, the same in every browser
// (b: a driver from drivers.mjs). Checks the page against the JSON API, with the API's PNGs
// and the downloaded files decoded here (png.mjs), not by the browser:
//   open an image with the file picker; click a point, drag a box, cycle the candidates (M),
//   undo / redo (Ctrl+Z, Ctrl+Shift+Z, Ctrl+Y), pick candidates (Tab, Shift+Tab, digits, a
//   click), Delete and undo it: each time the overlay equals the API's mask; Esc cancels a
//   drag; drop the same file (cached embedding); click, right-click and shift-click (background
//   points), a box; export the mask PNG (S: equal to the API's mask) and the cut-out (alpha 0
//   exactly outside the mask, the image's pixels inside); clear (C); segment everything
//   (button) with the default parameters and (E twice) via vlmApp.everythingParams with ones
//   that give several masks on the test model: as many objects as the API returns, the overlay
//   their union; the JSON export (one annotation per object: RLE equal to the API's mask, box,
//   score); undo / redo of segment everything. With a VLM on the server: a question about the
//   current object (A, typed, Enter) streams in, equal to the API's greedy answer for the same
//   region, whose mask is the object's; then one about the whole image (a new, empty object).
//   With a photo index on the server (--index): a search (F, typed, Enter) shows the API's
//   results in its order as loaded thumbnails, and a click on one opens that photo.
//   Returns { passed, failed }.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { alpha, channel, decodePng } from './png.mjs';

// parameters of /v1/everything that give several (overlapping) masks with the random-weight
// test model, quickly: 4 prompt points, no quality filter, no NMS
const SMALL_EVERYTHING = { points_per_side: 2, pred_iou_thresh: 0, stability_score_thresh: 0, box_nms_thresh: 1 };

export async function run(b, { url, imagePath, outDir, name }) {
  let passed = 0, failed = 0;
  const check = (cond, what) => {
    if (cond) passed++;
    else { failed++; console.error('FAIL ' + what); }
    return cond;
  };
  const post = async (path, body) => {
    const r = await fetch(new URL(path, url), { method: 'POST', body: JSON.stringify(body) });
    const j = await r.json();
    if (!r.ok) throw new Error(`${path}: HTTP ${r.status} ${j.error}`);
    return j;
  };
  const bitsOf = (png) => {   // 0/1 per pixel from the first channel of a mask PNG
    const bits = new Uint8Array(png.width * png.height);
    for (let i = 0; i < bits.length; i++) bits[i] = channel(png, i, 0) > 127 ? 1 : 0;
    return bits;
  };
  const apiBits = (m) => bitsOf(decodePng(Buffer.from(m.png, 'base64')));
  const count = (bits) => bits.reduce((s, v) => s + v, 0);
  const differ = (x, y) => { let d = 0; for (let i = 0; i < x.length; i++) d += x[i] !== y[i] ? 1 : 0; return d; };

  // the page's state: image, the current object's prompt, the list of objects
  const state = () => b.evaluate(() => {
    const app = window.vlmApp, o = app.objects[app.current] || null;
    return { id: app.image.id, W: app.image.width, H: app.image.height, n: app.objects.length,
             auto: app.objects.filter((x) => x.auto).length, items: document.querySelectorAll('#objects li').length,
             o: o && { key: o.key, points: o.points, box: o.box, maskIndex: o.maskIndex },
             status: document.getElementById('status').textContent };
  });
  // what the overlay covers (alpha > 0), 0/1 per image pixel
  const overlay = async () => Buffer.from(await b.evaluate(() => {
    const c = document.getElementById('overlay'), d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let s = '';
    for (let i = 3; i < d.length; i += 4) s += d[i] ? '\x01' : '\x00';
    return btoa(s);
  }), 'base64');
  // the API's mask for the current object's prompt (the chosen candidate, else the best)
  const apiMask = async (s) => {
    const req = { image: s.id, points: s.o.points, multimask: true };
    if (s.o.box) req.box = s.o.box;
    const r = await post('/v1/segment', req);
    const i = s.o.maskIndex >= 0 ? s.o.maskIndex : r.masks.reduce((k, m, j) => (m.score > r.masks[k].score ? j : k), 0);
    return Object.assign({ index: i, bits: apiBits(r.masks[i]) }, r.masks[i]);
  };
  // the overlay against the API's mask for the current (only) object
  const checkOverlay = async (what) => {
    const s = await state(), m = await apiMask(s), ov = await overlay(), d = differ(ov, m.bits);
    check(m.area > 0 && d === 0, `${what}: the overlay differs from the API's mask ${m.index} in ${d} of ${m.area} pixels`);
    console.log(`${what}: ${JSON.stringify(s.o.points)} box ${JSON.stringify(s.o.box)}: API mask ${m.index}, ${m.area} px, ${d} differ`);
    return { s, m };
  };
  // runs an action and waits until the page has rendered and has no request in flight
  const act = async (action, timeout = 60000) => {
    const n = await b.evaluate(() => window.vlmApp.renders);
    await action();
    await b.waitFor((n) => window.vlmApp.renders > n && window.vlmApp.pending === 0 &&
                           document.getElementById('progress').hidden, n, timeout);
  };

  await b.goto(url);
  await b.waitFor(() => document.getElementById('server').textContent.length > 0, null, 30000);

  // 1. open the image with the file picker; the encoder runs once
  await b.setFile('#file', imagePath);
  await b.waitFor(() => window.vlmApp.image && !document.getElementById('stage').hidden &&
                        document.getElementById('progress').hidden, null, 120000);
  const { W, H } = await state();
  const rect = await b.box('#prompts');
  const at = (fx, fy) => [rect.x + rect.width * fx, rect.y + rect.height * fy];   // a point on the image
  const toImage = (p) => [Math.round((p[0] - rect.x) * W / rect.width), Math.round((p[1] - rect.y) * H / rect.height)];
  const near = (x, y) => Math.abs(x[0] - y[0]) <= 1 && Math.abs(x[1] - y[1]) <= 1;
  console.log(`image ${W}x${H} shown at ${rect.width.toFixed(0)}x${rect.height.toFixed(0)}`);

  // 2. a foreground point
  const p = at(0.5, 0.56);
  await act(() => b.click(p[0], p[1]));
  let { s, m } = await checkOverlay('point');
  // with CLIP loaded, the object is labelled with its best concepts, as /v1/label gives them
  if (await b.evaluate(() => !!(window.vlmApp.health && window.vlmApp.health.clip))) {
    await b.waitFor(() => /%/.test(document.querySelector('#objects li .labels').textContent), null, 60000);
    const shown = await b.evaluate(() => document.querySelector('#objects li .labels').textContent);
    const want = (await post('/v1/label', { image: s.id, mask: m.png, top: 3 })).concepts
      .map((c) => `${c.label} ${(100 * c.prob).toFixed(1)}%`).join(', ');
    check(shown === want, `CLIP labels: the page shows '${shown}', the API gives '${want}'`);
    console.log(`labels: ${shown}`);
  }
  check(s.o.points.length === 1 && near(s.o.points[0], toImage(p)) && s.o.points[0][2] === 1,
        `point prompt ${JSON.stringify(s.o.points)}, clicked at image ${toImage(p)}`);

  // 3. drag a box around it
  const a = at(0.25, 0.2), z = at(0.8, 0.95);
  await act(() => b.drag(a, z));
  ({ s, m } = await checkOverlay('point + box'));
  check(s.o.box && near(s.o.box, toImage(a)) && near(s.o.box.slice(2), toImage(z)) && s.o.points.length === 1,
        `box prompt ${JSON.stringify(s.o.box)}, dragged ${toImage(a)} -> ${toImage(z)}`);

  // 4. cycle the candidates with M
  const before = m.index;
  await act(() => b.key('m'));
  ({ s, m } = await checkOverlay('cycle (M)'));
  check(s.o.maskIndex === (before + 1) % 3, `cycle: mask ${s.o.maskIndex}, was ${before}`);
  const candidates = await b.evaluate(() => document.querySelectorAll('#candidates button').length);
  check(candidates === 3, `${candidates} candidate buttons, want 3`);

  // 5. undo twice (the cycle, then the box), redo with Ctrl+Shift+Z, undo again, redo with Ctrl+Y
  await act(() => b.key('Control+z'));
  await act(() => b.key('Control+z'));
  ({ s } = await checkOverlay('undo (Ctrl+Z) x2'));
  check(s.o.box === null && s.o.points.length === 1, `undo: box ${JSON.stringify(s.o.box)}, ${s.o.points.length} points`);
  await act(() => b.key('Control+Shift+z'));
  ({ s } = await checkOverlay('redo (Ctrl+Shift+Z)'));
  check(s.o.box !== null && s.o.maskIndex === -1, `redo: box ${JSON.stringify(s.o.box)}, mask ${s.o.maskIndex}`);
  await act(() => b.key('Control+z'));
  await act(() => b.key('Control+y'));
  ({ s } = await checkOverlay('undo, redo (Ctrl+Y)'));
  check(s.o.box !== null, `redo (Ctrl+Y): box ${JSON.stringify(s.o.box)}`);

  // 6. more of the keyboard and mouse: Tab / Shift+Tab / digits pick candidates, so does a
  // click on one; Esc cancels a box drag; Delete removes the object (and Ctrl+Z brings it back)
  const pick = async (how, want, what) => {
    await act(how);
    ({ s } = await checkOverlay(what));
    check(s.o.maskIndex === want, `${what}: mask ${s.o.maskIndex}, want ${want}`);
  };
  const best = (await apiMask(await state())).index;
  await pick(() => b.key('Tab'), (best + 1) % 3, 'Tab');
  await pick(() => b.key('Shift+Tab'), best, 'Shift+Tab');
  await pick(() => b.key(String((best + 2) % 3 + 1)), (best + 2) % 3, `key ${(best + 2) % 3 + 1}`);
  await pick(() => b.clickOn(`#candidates button:nth-child(${best + 1})`), best, `candidate ${best + 1} clicked`);
  const undoable = () => b.evaluate(() => window.vlmApp.history.length);
  const h = await undoable(), box = s.o.box;
  await b.drag(at(0.1, 0.1), at(0.4, 0.4), () => b.key('Escape'));
  s = await state();
  check(JSON.stringify(s.o.box) === JSON.stringify(box) && await undoable() === h,
        `Esc during a drag: box ${JSON.stringify(s.o.box)} (was ${JSON.stringify(box)})`);
  await act(() => b.key('Delete'));
  s = await state();
  const cleared = (await overlay()).every((v) => v === 0);
  check(s.n === 0 && cleared, `Delete: ${s.n} objects, overlay ${cleared ? 'empty' : 'not empty'}`);
  await act(() => b.key('Control+z'));
  ({ s } = await checkOverlay('Delete, undo'));
  check(s.n === 1 && s.o.maskIndex === best, `Delete, undo: ${s.n} objects, mask ${s.o.maskIndex}`);

  // 7. drop the same file: same id (the embedding is reused), the objects reset
  await b.evaluate((b64) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const dt = new DataTransfer();
    dt.items.add(new File([bytes], 'dropped.jpg', { type: 'image/jpeg' }));
    window.vlmApp.image = null;
    document.getElementById('stage-wrap').dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  }, readFileSync(imagePath).toString('base64'));
  await b.waitFor(() => window.vlmApp.image && document.getElementById('progress').hidden, null, 60000);
  s = await state();
  check(/cached/.test(s.status) && s.n === 0, `drop: ${s.n} objects, status "${s.status}"`);
  console.log(`drop: "${s.status}"`);

  // 8. a foreground point, a background point by right click, another by shift-click, a box
  await act(() => b.click(p[0], p[1]));
  const q = at(0.85, 0.3), r = at(0.15, 0.8);
  await act(() => b.click(q[0], q[1], { button: 'right' }));
  ({ s } = await checkOverlay('right click'));
  check(s.o.points.length === 2 && s.o.points[1][2] === 0 && near(s.o.points[1], toImage(q)),
        `right click: ${JSON.stringify(s.o.points)}, want a background point at ${toImage(q)}`);
  await act(() => b.click(r[0], r[1], { shift: true }));
  ({ s } = await checkOverlay('shift-click'));
  check(s.o.points.length === 3 && s.o.points[2][2] === 0 && near(s.o.points[2], toImage(r)),
        `shift-click: ${JSON.stringify(s.o.points)}, want a background point at ${toImage(r)}`);
  await act(() => b.drag(a, z));
  ({ s, m } = await checkOverlay('3 points + box'));

  // 9. exports of the current object: the mask PNG (S) and the cut-out (button)
  let f = await b.download(() => b.key('s'));
  const maskPng = decodePng(f.data);
  const maskDiff = maskPng.width === W && maskPng.height === H ? differ(bitsOf(maskPng), m.bits) : -1;
  check(/-mask\.png$/.test(f.name) && maskDiff === 0,
        `mask PNG ${f.name}: ${maskPng.width}x${maskPng.height}, ${maskDiff} pixels differ from the API's mask`);
  console.log(`export mask (S): ${f.name}, ${maskPng.width}x${maskPng.height}, ${maskDiff} pixels differ from the API`);
  f = await b.download(() => b.clickOn('#export-cutout'));
  const cut = decodePng(f.data);
  const [x0, y0, x1, y1] = m.box, cw = x1 - x0 + 1, ch = y1 - y0 + 1;
  // the image as the page shows it, under the box
  const shown = Buffer.from(await b.evaluate(([x0, y0, w, h]) => {
    const d = document.getElementById('image').getContext('2d').getImageData(x0, y0, w, h).data;
    let s = '';
    for (let i = 0; i < d.length; i++) s += String.fromCharCode(d[i]);
    return btoa(s);
  }, [x0, y0, cw, ch]), 'base64');
  let badAlpha = 0, badColor = 0, inside = 0;
  if (cut.width === cw && cut.height === ch && cut.channels === 4)
    for (let y = 0; y < ch; y++)
      for (let x = 0; x < cw; x++) {
        const i = y * cw + x, on = m.bits[(y + y0) * W + x + x0];
        inside += on;
        if (alpha(cut, i) !== (on ? 255 : 0)) badAlpha++;
        else if (on && [0, 1, 2].some((c) => channel(cut, i, c) !== shown[4 * i + c])) badColor++;
      }
  check(/-cutout\.png$/.test(f.name) && cut.width === cw && cut.height === ch && cut.channels === 4 &&
        inside === m.area && badAlpha === 0 && badColor === 0,
        `cut-out ${f.name}: ${cut.width}x${cut.height}x${cut.channels} (box ${cw}x${ch}), ${inside} of ${m.area} mask pixels, ` +
        `${badAlpha} with a wrong alpha, ${badColor} with another colour than the image`);
  console.log(`export cut-out: ${f.name}, ${cut.width}x${cut.height} RGBA, ${badAlpha} wrong alpha, ${badColor} wrong colour`);

  // 9b. with a VLM: ask about the object (A focuses the box), then (Esc, N: a new, empty
  // object) about the whole image; each answer streams in and equals the API's greedy one
  if (await b.evaluate(() => !!(window.vlmApp.health && window.vlmApp.health.vlm))) {
    await b.evaluate(() => { window.vlmApp.askParams = { temperature: 0, max_tokens: 24 }; });
    const askPage = async (question) => {
      const n = await b.evaluate(() => window.vlmApp.answers.length);
      await b.key('a');
      await b.type(question);
      await b.key('Enter');
      await b.waitFor((n) => window.vlmApp.answers.length > n && !window.vlmApp.asking, n, 120000);
      await b.key('Escape');   // out of the question box: the shortcuts again
      return b.evaluate(() => Object.assign({ shown: [...document.querySelectorAll('#answer .a')].pop().textContent },
                                            window.vlmApp.answers[window.vlmApp.answers.length - 1]));
    };
    const apiAnswer = async (body) => (await post('/v1/chat/completions', Object.assign({ max_tokens: 24, temperature: 0 }, body)))
      .choices[0].message.content;
    let ans = await askPage('What is this?');
    const region = { image: s.id, points: s.o.points };
    if (s.o.box) region.box = s.o.box;
    let want = await apiAnswer({ messages: [{ role: 'user', content: 'What is this?' }], vlm_region: region });
    check(ans.done && !ans.error && ans.finish && ans.text.length > 0 && ans.text === want && ans.shown === ans.text &&
          ans.objectKey === s.o.key && ans.pieces > 1,
          `ask about the object: '${ans.text}' (${ans.pieces} pieces, ${ans.finish}, error ${ans.error}), the API '${want}'`);
    const rbits = ans.region && ans.region.mask ? rleDecode(ans.region.mask.counts, W, H) : null;
    const rd = rbits ? differ(rbits, m.bits) : -1;
    check(rd === 0, `ask: the region's mask differs from the object's in ${rd} pixels`);
    console.log(`ask (object ${ans.objectKey}): '${ans.text}' in ${ans.pieces} pieces, region mask vs object: ${rd} differ`);
    await act(() => b.key('n'));
    ans = await askPage('Describe the picture.');
    want = await apiAnswer({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'vlm://image/' + s.id } },
                                                                  { type: 'text', text: 'Describe the picture.' }] }] });
    check(ans.done && !ans.error && ans.text === want && ans.objectKey === null && !ans.region,
          `ask about the image: '${ans.text}', the API '${want}'`);
    console.log(`ask (image): '${ans.text}'`);
  }

  const shot = join(outDir, `serve-${name}.png`);
  await b.screenshot(shot);
  console.log(`screenshot: ${shot}`);

  // 10. clear (C), then segment everything (E) with the default parameters: as many objects as the API gives
  await act(() => b.key('c'));
  s = await state();
  check(s.n === 0 && s.items === 0, `clear: ${s.n} objects, ${s.items} listed`);
  const segmentEverything = async (params, how) => {
    await b.evaluate((params) => { window.vlmApp.everythingParams = params; }, params);
    let t0 = Date.now();
    await act(how, 300000);
    const pageMs = Date.now() - t0;
    t0 = Date.now();
    const api = await post('/v1/everything', Object.assign({ image: (await state()).id }, params));
    s = await state();   // (after the API's answer: a second run by the page would show by now)
    const union = new Uint8Array(W * H), masks = api.masks.map(apiBits);
    for (const bits of masks) for (let i = 0; i < bits.length; i++) union[i] |= bits[i];
    const d = differ(await overlay(), union);
    check(s.auto === api.masks.length && s.items === api.masks.length && d === 0,
          `everything ${JSON.stringify(params)}: ${s.auto} objects (${s.items} listed), the API ${api.masks.length}; ` +
          `the overlay differs from their union in ${d} pixels`);
    console.log(`everything ${JSON.stringify(params)}: ${s.auto} objects on the page in ${pageMs} ms, ` +
                `${api.masks.length} from the API in ${Date.now() - t0} ms, overlay vs union: ${d} differ`);
    return { api, masks };
  };
  await segmentEverything({}, () => b.clickOn('#everything'));

  // 11. several masks (E pressed twice: one run, not two), then the JSON export (button): one
  // annotation per object
  if ((await state()).n) await act(() => b.key('c'));
  const every = await segmentEverything(SMALL_EVERYTHING, async () => { await b.key('e'); await b.key('e'); });
  check(every.api.masks.length > 1, `everything ${JSON.stringify(SMALL_EVERYTHING)}: ${every.api.masks.length} masks, want several`);
  f = await b.download(() => b.clickOn('#export-json'));
  let json = null;
  try { json = JSON.parse(f.data.toString('utf8')); } catch (e) { check(false, `JSON export ${f.name}: ${e.message}`); }
  const anns = (json && json.annotations) || [];
  check(/-objects\.json$/.test(f.name) && json && json.image.width === W && json.image.height === H &&
        anns.length === every.api.masks.length,
        `JSON ${f.name}: ${anns.length} annotations, ${every.api.masks.length} objects`);
  let badAnn = 0;
  anns.forEach((an, i) => {
    const m = every.api.masks[i], rle = an.segmentation, [x0, y0, x1, y1] = m ? m.box : [];
    const bits = rle && rle.size && rle.size[0] === H && rle.size[1] === W ? rleDecode(rle.counts, W, H) : null;
    const ok = m && bits && differ(bits, every.masks[i]) === 0 && an.area === m.area && an.score === m.score &&
               JSON.stringify(an.bbox) === JSON.stringify([x0, y0, x1 - x0, y1 - y0]) && an.automatic === true;
    if (!ok && badAnn++ < 3) check(false, `JSON annotation ${i}: ${JSON.stringify(an).slice(0, 200)}`);
  });
  check(badAnn === 0, `JSON: ${badAnn} annotations differ from the API's masks`);
  console.log(`export JSON: ${f.name}, ${anns.length} annotations (RLE, box, score) equal to the API's masks`);

  // 12. undo / redo segment everything with the keyboard
  await act(() => b.key('Control+z'));
  s = await state();
  check(s.n === 0, `undo segment everything: ${s.n} objects left`);
  await act(() => b.key('Control+Shift+z'));
  s = await state();
  check(s.auto === every.api.masks.length, `redo segment everything: ${s.auto} objects`);

  // 13. with a photo index: search (F, typed, Enter), the thumbnails in the API's order, a click opens one
  if (await b.evaluate(() => !!(window.vlmApp.health && window.vlmApp.health.index))) {
    await b.key('f');
    await b.type('a photo of a dog');
    await b.key('Enter');
    await b.waitFor(() => window.vlmApp.search && [...document.querySelectorAll('#search-results img')]
      .every((i) => i.complete && i.naturalWidth > 0), null, 60000);
    const api = await (await fetch(new URL('/v1/search?q=a%20photo%20of%20a%20dog&top=24', url))).json();
    const shown = await b.evaluate(() => [...document.querySelectorAll('#search-results img')].map((i) => i.alt));
    check(shown.length > 0 && JSON.stringify(shown) === JSON.stringify(api.results.map((r) => r.path)),
          `search: the page shows ${JSON.stringify(shown)}, the API gives ${JSON.stringify(api.results.map((r) => r.path))}`);
    const n = await b.evaluate(() => window.vlmApp.renders);
    await b.clickOn('#search-results button');
    await b.waitFor((n) => window.vlmApp.renders > n && window.vlmApp.file && window.vlmApp.pending === 0 &&
                           document.getElementById('progress').hidden, n, 120000);
    const opened = await b.evaluate(() => window.vlmApp.file.name);
    check(opened === api.results[0].path.split('/').pop(), `search: a click on the best result opened '${opened}'`);
    console.log(`search: ${shown.length} thumbnails in the API's order, the best (${api.results[0].path}) opened`);
  }

  check(b.errors.length === 0, `page errors: ${b.errors.join('; ')}`);
  return { passed, failed };
}

// Uncompressed COCO RLE (column-major, starting with 0s) -> 0/1 per pixel, row-major; null if
// the runs do not add up to the image.
function rleDecode(counts, W, H) {
  if (!Array.isArray(counts)) return null;
  const bits = new Uint8Array(W * H);
  let k = 0, v = 0;
  for (const c of counts) {
    if (v) for (let j = k; j < k + c && j < W * H; j++) bits[(j % H) * W + Math.floor(j / H)] = 1;
    k += c;
    v ^= 1;
  }
  return k === W * H ? bits : null;
}
