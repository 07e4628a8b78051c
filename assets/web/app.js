// app.js — the page of `vlm serve`: open an image, click / drag prompts, see SAM's masks,
// several objects, segment everything, CLIP labels, exports, and with a VLM questions about
// the current object or the image, the answer streamed; with a photo index (serve --index) a
// text search shown as thumbnails, a click opening the photo. Plain browser JavaScript: no build
// step, no external code.
'use strict';

const PALETTE = [[30, 144, 255], [255, 99, 71], [50, 205, 50], [255, 215, 0], [186, 85, 211],
                 [0, 206, 209], [255, 140, 0], [220, 20, 60], [127, 255, 212], [255, 105, 180]];
const $ = (id) => document.getElementById(id);

const app = {
  health: null,
  file: null,          // the image's bytes (Blob), for re-upload if the server evicted it
  image: null,         // {id, width, height}
  objects: [],         // [{key, color, points: [[x, y, label]], box: [x0, y0, x1, y1] | null, auto, maskIndex}]
  current: -1,         // index into objects
  results: new Map(),  // prompt key -> {id, masks: [{score, box, area, png, bits}]}
  history: [], future: [],
  nextKey: 1,
  labels: new Map(),   // object key + mask index + prompt key -> concepts
  everythingParams: {},   // extra /v1/everything parameters (points_per_side, ...), from the console or tests
  everythingBusy: false,   // a segment-everything request is in flight
  askParams: {},       // extra /v1/chat/completions parameters (temperature, max_tokens, ...), from the console or tests
  asking: null,        // the AbortController of the question being answered
  answers: [],         // [{question, objectKey, text, pieces, finish, region, error, done}]
  search: null,        // the last /v1/search answer
  lastRequest: null, renders: 0, pending: 0,
};
window.vlmApp = app;   // for tests and the console

// ---- small helpers ----------------------------------------------------------------------------
function setStatus(text, isError) {
  const s = $('status');
  s.textContent = text;
  s.classList.toggle('error', !!isError);
}

function showProgress(text, fraction) {
  $('progress').hidden = false;
  $('progress-text').textContent = text;
  const f = $('progress-fill');
  if (fraction == null) f.classList.add('indeterminate');
  else { f.classList.remove('indeterminate'); f.style.width = (100 * fraction).toFixed(1) + '%'; }
}
function hideProgress() { $('progress').hidden = true; }

async function api(path, body) {
  const r = await fetch(path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  let j = null;
  try { j = await r.json(); } catch (e) { /* not JSON */ }
  if (!r.ok) {
    const err = new Error((j && j.error) || ('HTTP ' + r.status));
    err.status = r.status;
    throw err;
  }
  return j;
}

function download(blob, name) {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.appendChild(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
}

// Decodes a base64 PNG mask into a Uint8Array of 0/1 (row-major, width x height).
function decodeMask(png, w, h) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => {
      const c = document.createElement('canvas');
      c.width = w; c.height = h;
      const g = c.getContext('2d');
      g.drawImage(img, 0, 0);
      const d = g.getImageData(0, 0, w, h).data;
      const bits = new Uint8Array(w * h);
      for (let i = 0; i < w * h; i++) bits[i] = d[4 * i] > 127 ? 1 : 0;
      resolve(bits);
    };
    img.onerror = () => reject(new Error('cannot decode a mask PNG'));
    img.src = 'data:image/png;base64,' + png;
  });
}

// ---- state and history ---------------------------------------------------------------------------
function snapshot() {
  return JSON.stringify({ objects: app.objects, current: app.current });
}
function pushHistory() {
  app.history.push(snapshot());
  if (app.history.length > 200) app.history.shift();
  app.future = [];
}
function restore(s) {
  const o = JSON.parse(s);
  app.objects = o.objects;
  app.current = o.current;
}
function undo() {
  if (!app.history.length) return;
  app.future.push(snapshot());
  restore(app.history.pop());
  refreshAll();
}
function redo() {
  if (!app.future.length) return;
  app.history.push(snapshot());
  restore(app.future.pop());
  refreshAll();
}

function promptKey(o) {
  return o.auto ? o.auto : JSON.stringify({ p: o.points, b: o.box });
}
function currentObject() { return app.objects[app.current] || null; }

function newObject() {
  const key = app.nextKey++;
  app.objects.push({ key, color: PALETTE[(key - 1) % PALETTE.length], points: [], box: null, auto: null, maskIndex: -1 });
  app.current = app.objects.length - 1;
}

// The current object, or a new one if it already has an automatic mask.
function editableObject() {
  let o = currentObject();
  if (!o || o.auto) { newObject(); o = currentObject(); }
  return o;
}

// ---- talking to the server ---------------------------------------------------------------------
async function uploadImage(blob) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/v1/images');
    const t0 = performance.now();
    let timer = null;
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) showProgress('Uploading… ' + Math.round(100 * e.loaded / e.total) + '%', 0.3 * e.loaded / e.total);
    };
    xhr.upload.onload = () => {
      // the server now decodes and runs the image encoder (once per image)
      const tick = () => showProgress('Running the image encoder… ' + ((performance.now() - t0) / 1000).toFixed(1) + ' s', null);
      tick();
      timer = setInterval(tick, 100);
    };
    xhr.onload = () => {
      clearInterval(timer);
      let j = null;
      try { j = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
      if (xhr.status === 200 && j) resolve(j);
      else reject(new Error((j && j.error) || ('upload failed: HTTP ' + xhr.status)));
    };
    xhr.onerror = () => { clearInterval(timer); reject(new Error('upload failed: network error')); };
    showProgress('Uploading…', 0);
    xhr.send(blob);
  });
}

// Calls an image endpoint; if the server forgot the image (LRU cache), uploads it again once.
async function imageApi(path, body) {
  try {
    return await api(path, Object.assign({ image: app.image.id }, body));
  } catch (e) {
    if (e.status !== 404 || !/image id/.test(e.message) || !app.file) throw e;
    const r = await uploadImage(app.file);
    hideProgress();
    app.image.id = r.id;
    return api(path, Object.assign({ image: app.image.id }, body));
  }
}

async function resultFor(o) {
  const key = promptKey(o);
  if (app.results.has(key)) return app.results.get(key);
  if (!o.points.length && !o.box) return null;
  const req = { points: o.points, multimask: true };
  if (o.box) req.box = o.box;
  app.lastRequest = Object.assign({ image: app.image.id }, req);
  // the image and its results as of now: another image may be opened while this one waits
  const results = app.results, W = app.image.width, H = app.image.height;
  const t0 = performance.now();
  const r = await imageApi('/v1/segment', req);
  for (const m of r.masks) m.bits = await decodeMask(m.png, W, H);
  r.ms = performance.now() - t0;
  results.set(key, r);
  return r;
}

function bestIndex(r) {
  let b = 0;
  r.masks.forEach((m, i) => { if (m.score > r.masks[b].score) b = i; });
  return b;
}

function chosenMask(o) {
  const r = app.results.get(promptKey(o));
  if (!r || !r.masks.length) return null;
  const i = o.maskIndex >= 0 && o.maskIndex < r.masks.length ? o.maskIndex : bestIndex(r);
  return { r, i, m: r.masks[i] };
}

// Re-runs the decoder where needed and redraws.
let refreshSeq = 0;
async function refreshAll() {
  const seq = ++refreshSeq;
  app.pending++;
  updateButtons();
  try {
    for (const o of app.objects) {
      if (!app.results.has(promptKey(o)) && (o.points.length || o.box)) {
        const r = await resultFor(o);
        if (seq === refreshSeq && r) setStatus(`${r.masks.length} masks in ${r.ms.toFixed(0)} ms (decoder ${r.timings_ms ? r.timings_ms.decoder.toFixed(1) : '?'} ms)`);
      }
    }
  } catch (e) {
    setStatus(e.message, true);
  } finally {
    app.pending--;
  }
  if (seq !== refreshSeq) return;
  render();
  requestLabels();
}

// ---- CLIP labels ---------------------------------------------------------------------------------
let labelTimer = null;
function requestLabels() {
  if (!app.health || !app.health.clip) return;
  clearTimeout(labelTimer);
  labelTimer = setTimeout(async () => {
    for (const o of app.objects) {
      const c = chosenMask(o);
      if (!c || !c.m.area) continue;
      const k = o.key + '|' + promptKey(o) + '|' + c.i;
      if (app.labels.has(k)) continue;
      app.labels.set(k, null);
      try {
        const r = await imageApi('/v1/label', { mask: c.m.png, top: 3 });
        app.labels.set(k, r.concepts);
      } catch (e) {
        app.labels.delete(k);
        setStatus('labels: ' + e.message, true);
      }
      renderObjects();
      renderPrompts();
    }
  }, 250);
}
function labelsOf(o) {
  const c = chosenMask(o);
  return c ? app.labels.get(o.key + '|' + promptKey(o) + '|' + c.i) : null;
}

// ---- questions (with a VLM: POST /v1/chat/completions, streamed) ---------------------------------
// About the current object (the server segments its prompt with SAM and the model sees the
// crop around the mask), else about the whole image.
function askRequest(question) {
  const o = currentObject();
  const req = Object.assign({ model: app.health.vlm, max_tokens: 256 }, app.askParams, { stream: true });
  if (o && !o.auto && (o.points.length || o.box) && app.health.model) {
    req.messages = [{ role: 'user', content: question }];
    req.vlm_region = { image: app.image.id, points: o.points };
    if (o.box) req.vlm_region.box = o.box;
  } else {
    req.messages = [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'vlm://image/' + app.image.id } },
                                              { type: 'text', text: question }] }];
  }
  return req;
}

// Posts a question; if the server forgot the image, uploads it again once. The response, or an Error.
async function postQuestion(question, signal) {
  for (let attempt = 0; ; attempt++) {
    const r = await fetch('/v1/chat/completions', { method: 'POST', headers: { 'Content-Type': 'application/json' },
                                                    body: JSON.stringify(askRequest(question)), signal });
    if (r.ok) return r;
    let j = null;
    try { j = await r.json(); } catch (e) { /* not JSON */ }
    const msg = (j && j.error && j.error.message) || ('HTTP ' + r.status);
    if (attempt || r.status !== 400 || !/unknown image id/.test(msg) || !app.file) throw new Error(msg);
    const u = await uploadImage(app.file);
    hideProgress();
    app.image.id = u.id;
  }
}

// Reads the server-sent events of an answer into entry, showing the text as it comes.
async function readAnswer(r, entry, el) {
  const reader = r.body.getReader(), dec = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let k;
    while ((k = buf.indexOf('\n\n')) >= 0) {
      const event = buf.slice(0, k);
      buf = buf.slice(k + 2);
      for (const line of event.split('\n')) {
        if (!line.startsWith('data: ')) continue;
        const d = line.slice(6);
        if (d === '[DONE]') { entry.done = true; continue; }
        const c = JSON.parse(d);
        if (c.error) throw new Error(c.error.message);
        if (c.vlm_region) entry.region = c.vlm_region;
        const ch = c.choices && c.choices[0];
        if (ch && ch.delta && ch.delta.content) { entry.text += ch.delta.content; entry.pieces++; el.textContent = entry.text; }
        if (ch && ch.finish_reason) entry.finish = ch.finish_reason;
      }
    }
  }
}

async function ask(question) {
  question = question.trim();
  if (!question || !app.image || !app.health || !app.health.vlm || app.asking) return;
  const o = currentObject(), ctl = new AbortController();
  const entry = { question, objectKey: o && !o.auto && (o.points.length || o.box) ? o.key : null, text: '', finish: null,
                  region: null, error: null, done: false, pieces: 0 };
  app.asking = ctl;
  app.answers.push(entry);
  const q = document.createElement('div'), a = document.createElement('div');
  q.className = 'q';
  q.textContent = (entry.objectKey ? `Object ${entry.objectKey}: ` : 'Image: ') + question;
  a.className = 'a streaming';
  $('answer').append(q, a);
  updateAsk();
  const t0 = performance.now();
  try {
    await readAnswer(await postQuestion(question, ctl.signal), entry, a);
    setStatus(`answer in ${((performance.now() - t0) / 1000).toFixed(1)} s (${entry.finish || 'incomplete'})`);
  } catch (e) {
    entry.error = e.name === 'AbortError' ? 'stopped' : e.message;
    if (e.name !== 'AbortError') { a.classList.add('error'); a.textContent = entry.text + ' [' + e.message + ']'; }
  } finally {
    a.classList.remove('streaming');
    app.asking = null;
    updateAsk();
  }
}

function updateAsk() {
  const can = !!(app.image && app.health && app.health.vlm);
  $('ask-input').disabled = !can;
  $('ask-send').disabled = !can;
  $('ask-send').textContent = app.asking ? 'Stop' : 'Ask';
}

// ---- drawing --------------------------------------------------------------------------------------
function render() {
  renderOverlay();
  renderPrompts();
  renderCandidates();
  renderObjects();
  updateButtons();
  app.renders++;
}

function renderOverlay() {
  if (!app.image) return;
  const W = app.image.width, H = app.image.height;
  const cv = $('overlay'), g = cv.getContext('2d');
  const img = g.createImageData(W, H), d = img.data;
  app.objects.forEach((o, idx) => {
    if (idx === app.current) return;
    paint(o, 110);
  });
  const cur = currentObject();
  if (cur) paint(cur, 150);
  g.putImageData(img, 0, 0);

  function paint(o, alpha) {
    const c = chosenMask(o);
    if (!c) return;
    const bits = c.m.bits, [r, gg, b] = o.color;
    for (let i = 0; i < W * H; i++) {
      if (!bits[i]) continue;
      d[4 * i] = r; d[4 * i + 1] = gg; d[4 * i + 2] = b; d[4 * i + 3] = alpha;
    }
  }
}

function renderPrompts(dragBox) {
  if (!app.image) return;
  const cv = $('prompts'), g = cv.getContext('2d');
  const W = app.image.width, H = app.image.height;
  const scale = W / cv.getBoundingClientRect().width || 1;
  g.clearRect(0, 0, W, H);
  g.lineWidth = 2 * scale;
  app.objects.forEach((o, idx) => {
    const active = idx === app.current;
    if (o.box) {
      g.strokeStyle = active ? '#fff' : `rgb(${o.color})`;
      g.setLineDash(active ? [] : [6 * scale, 4 * scale]);
      g.strokeRect(o.box[0], o.box[1], o.box[2] - o.box[0], o.box[3] - o.box[1]);
      g.setLineDash([]);
    }
    for (const [x, y, l] of o.points) {
      g.beginPath();
      g.arc(x, y, (active ? 6 : 4) * scale, 0, 2 * Math.PI);
      g.fillStyle = l ? '#2ecc40' : '#ff4136';
      g.fill();
      g.strokeStyle = '#fff';
      g.stroke();
    }
    const labels = labelsOf(o), c = chosenMask(o);
    if (labels && labels.length && c && c.m.area) {
      const text = labels[0].label;
      g.font = `${13 * scale}px system-ui, sans-serif`;
      const tw = g.measureText(text).width + 8 * scale, th = 18 * scale;
      const x = Math.min(c.m.box[0], W - tw), y = Math.max(c.m.box[1] - th, 0);
      g.fillStyle = `rgba(${o.color}, 0.9)`;
      g.fillRect(x, y, tw, th);
      g.fillStyle = '#000';
      g.fillText(text, x + 4 * scale, y + 13.5 * scale);
    }
  });
  if (dragBox) {
    g.strokeStyle = '#fff';
    g.setLineDash([6 * scale, 4 * scale]);
    g.strokeRect(dragBox[0], dragBox[1], dragBox[2] - dragBox[0], dragBox[3] - dragBox[1]);
    g.setLineDash([]);
  }
}

function renderCandidates() {
  const box = $('candidates');
  box.textContent = '';
  const o = currentObject();
  const c = o && chosenMask(o);
  if (!c) return;
  const W = app.image.width, H = app.image.height;
  const tw = 80, th = Math.max(1, Math.round(80 * H / W));
  c.r.masks.forEach((m, i) => {
    const b = document.createElement('button');
    b.className = i === c.i ? 'active' : '';
    b.title = `mask ${i + 1}: predicted IoU ${m.score.toFixed(3)}, ${m.area} px (key ${i + 1})`;
    const cv = document.createElement('canvas');
    cv.width = tw; cv.height = th;
    const g = cv.getContext('2d');
    const id = g.createImageData(tw, th);
    for (let y = 0; y < th; y++)
      for (let x = 0; x < tw; x++) {
        const v = m.bits[Math.floor(y * H / th) * W + Math.floor(x * W / tw)];
        const k = 4 * (y * tw + x);
        id.data[k] = v ? o.color[0] : 30; id.data[k + 1] = v ? o.color[1] : 30; id.data[k + 2] = v ? o.color[2] : 30; id.data[k + 3] = 255;
      }
    g.putImageData(id, 0, 0);
    const s = document.createElement('span');
    s.textContent = m.score.toFixed(3);
    b.append(cv, s);
    b.onclick = () => pickMask(i);
    box.append(b);
  });
}

function renderObjects() {
  const list = $('objects');
  list.textContent = '';
  app.objects.forEach((o, idx) => {
    const li = document.createElement('li');
    li.className = idx === app.current ? 'active' : '';
    const sw = document.createElement('span');
    sw.className = 'swatch';
    sw.style.background = `rgb(${o.color})`;
    const info = document.createElement('div');
    info.className = 'info';
    const c = chosenMask(o);
    const title = document.createElement('div');
    title.textContent = `Object ${o.key}` + (c ? ` — ${c.m.area} px, IoU ${c.m.score.toFixed(3)}` : ' — add a point or box');
    const lab = document.createElement('div');
    lab.className = 'labels';
    const labels = labelsOf(o);
    lab.textContent = labels ? labels.map((l) => `${l.label} ${(100 * l.prob).toFixed(1)}%`).join(', ') : (app.health && app.health.clip && c ? '…' : '');
    info.append(title, lab);
    const del = document.createElement('button');
    del.className = 'del';
    del.textContent = '×';
    del.title = 'Remove (Delete)';
    del.onclick = (e) => { e.stopPropagation(); removeObject(idx); };
    li.append(sw, info, del);
    li.onclick = () => { app.current = idx; render(); };
    list.append(li);
  });
}

function updateButtons() {
  const has = !!app.image, o = currentObject(), c = o && chosenMask(o);
  $('new-object').disabled = !has;
  $('everything').disabled = !has || app.everythingBusy || !(app.health && app.health.model);
  $('undo').disabled = !app.history.length;
  $('redo').disabled = !app.future.length;
  $('clear').disabled = !app.objects.length;
  $('export-mask').disabled = !c;
  $('export-cutout').disabled = !c;
  $('export-json').disabled = !app.objects.some((x) => chosenMask(x));
  updateAsk();
}

// ---- actions --------------------------------------------------------------------------------------
function haveSam() {
  if (app.health && !app.health.model) setStatus('this server has no SAM model: questions are about the whole image');
  return !!(app.health && app.health.model);
}
function addPoint(x, y, label) {
  if (!haveSam()) return;
  pushHistory();
  const o = editableObject();
  o.points.push([x, y, label]);
  o.maskIndex = -1;
  refreshAll();
}
function setBox(b) {
  if (!haveSam()) return;
  pushHistory();
  const o = editableObject();
  o.box = b;
  o.maskIndex = -1;
  refreshAll();
}
function pickMask(i) {
  const o = currentObject(), c = o && chosenMask(o);
  if (!c || i < 0 || i >= c.r.masks.length || i === c.i) return;
  pushHistory();
  o.maskIndex = i;
  render();
  requestLabels();
}
function cycleMask(step) {
  const o = currentObject(), c = o && chosenMask(o);
  if (!c) return;
  const n = c.r.masks.length;
  pickMask((c.i + step + n) % n);
}
function removeObject(idx) {
  if (idx < 0 || idx >= app.objects.length) return;
  pushHistory();
  app.objects.splice(idx, 1);
  app.current = Math.min(app.current, app.objects.length - 1);
  render();
}
function clearAll() {
  if (!app.objects.length) return;
  pushHistory();
  app.objects = [];
  app.current = -1;
  render();
}
function startNewObject() {
  if (!app.image) return;
  const o = currentObject();
  if (o && !o.auto && !o.points.length && !o.box) return;   // already an empty one
  pushHistory();
  newObject();
  render();
}

async function segmentEverything() {
  if (!app.image || app.everythingBusy) return;   // one at a time (a held E key repeats)
  const image = app.image, W = image.width, H = image.height;
  const t0 = performance.now();
  app.everythingBusy = true;
  updateButtons();
  showProgress('Segmenting everything…', null);
  let r = null;
  try {
    r = await imageApi('/v1/everything', app.everythingParams);
    for (const m of r.masks) m.bits = await decodeMask(m.png, W, H);
  } catch (e) {
    r = null;
    setStatus(e.message, true);
  }
  app.everythingBusy = false;
  if (app.image !== image) { updateButtons(); return; }   // another image was opened meanwhile
  hideProgress();
  if (r) {
    if (r.masks.length) pushHistory();   // nothing to undo otherwise
    const tag = 'auto-' + Date.now();
    r.masks.forEach((m, i) => {
      newObject();
      const o = currentObject();
      o.auto = tag + '-' + i;
      app.results.set(o.auto, { id: null, masks: [m] });
    });
    setStatus(`segment everything: ${r.masks.length} masks in ${((performance.now() - t0) / 1000).toFixed(1)} s` +
              (r.masks.length ? '' : ' (none passed the quality thresholds)'));
  }
  render();
  requestLabels();
}

// ---- exports --------------------------------------------------------------------------------------
function baseName() { return (app.file && app.file.name ? app.file.name.replace(/\.[^.]*$/, '') : 'image'); }

function exportMask() {
  const o = currentObject(), c = o && chosenMask(o);
  if (!c) return;
  const W = app.image.width, H = app.image.height;
  const cv = document.createElement('canvas');
  cv.width = W; cv.height = H;
  const g = cv.getContext('2d'), id = g.createImageData(W, H);
  for (let i = 0; i < W * H; i++) {
    const v = c.m.bits[i] ? 255 : 0;
    id.data[4 * i] = id.data[4 * i + 1] = id.data[4 * i + 2] = v;
    id.data[4 * i + 3] = 255;
  }
  g.putImageData(id, 0, 0);
  cv.toBlob((b) => download(b, `${baseName()}-object${o.key}-mask.png`), 'image/png');
}

function exportCutout() {
  const o = currentObject(), c = o && chosenMask(o);
  if (!c || !c.m.area) return;
  const W = app.image.width;
  const [x0, y0, x1, y1] = c.m.box, w = x1 - x0 + 1, h = y1 - y0 + 1;   // the box is inclusive
  const src = $('image').getContext('2d').getImageData(x0, y0, w, h);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      if (!c.m.bits[(y + y0) * W + x + x0]) src.data[4 * (y * w + x) + 3] = 0;
  const cv = document.createElement('canvas');
  cv.width = w; cv.height = h;
  cv.getContext('2d').putImageData(src, 0, 0);
  cv.toBlob((b) => download(b, `${baseName()}-object${o.key}-cutout.png`), 'image/png');
}

// Uncompressed COCO RLE (column-major, starting with a run of 0s), as pycocotools writes it.
function rle(bits, W, H) {
  const counts = [];
  let prev = 0, run = 0;
  for (let x = 0; x < W; x++)
    for (let y = 0; y < H; y++) {
      const v = bits[y * W + x];
      if (v !== prev) { counts.push(run); run = 0; prev = v; }
      run++;
    }
  counts.push(run);
  return { size: [H, W], counts };
}

function exportJson() {
  const W = app.image.width, H = app.image.height;
  const out = { image: { id: app.image.id, file_name: app.file && app.file.name, width: W, height: H }, annotations: [] };
  for (const o of app.objects) {
    const c = chosenMask(o);
    if (!c) continue;
    const [x0, y0, x1, y1] = c.m.box;
    const a = {
      id: o.key, segmentation: rle(c.m.bits, W, H), area: c.m.area,
      bbox: [x0, y0, x1 - x0, y1 - y0], box_xyxy: [x0, y0, x1, y1], score: c.m.score,
      mask_index: c.i, points: o.points, box: o.box, automatic: !!o.auto,
    };
    const labels = labelsOf(o);
    if (labels) a.concepts = labels;
    out.annotations.push(a);
  }
  download(new Blob([JSON.stringify(out, null, 1)], { type: 'application/json' }), `${baseName()}-objects.json`);
}

// ---- opening images ---------------------------------------------------------------------------------
async function openFile(file) {
  if (!file) return;
  setStatus('Opening ' + (file.name || 'image') + '…');
  let bitmap = null;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: 'from-image' });   // EXIF applied, as the server does
  } catch (e) {
    try { bitmap = await createImageBitmap(file); } catch (e2) { bitmap = null; }   // older browsers; unknown formats
  }
  try {
    const r = await uploadImage(file);
    hideProgress();
    app.file = file;
    app.image = { id: r.id, width: r.width, height: r.height };
    app.objects = []; app.current = -1; app.results = new Map(); app.labels = new Map();
    app.history = []; app.future = [];
    for (const id of ['image', 'overlay', 'prompts']) { $(id).width = r.width; $(id).height = r.height; }
    const g = $('image').getContext('2d');
    if (bitmap) g.drawImage(bitmap, 0, 0, r.width, r.height);
    $('drop').hidden = true;
    $('stage').hidden = false;
    fitStage();
    setStatus(`${file.name || 'image'}: ${r.width}×${r.height}` + (r.cached ? ' (embedding cached)' : ' (encoded)') +
              ' — click to add a point, right-click for background, drag for a box');
    render();
  } catch (e) {
    hideProgress();
    setStatus(e.message, true);
  }
}

// ---- photo search (serve --index) -----------------------------------------------------------------
async function searchPhotos(q) {
  const info = $('search-info'), box = $('search-results');
  info.textContent = 'Searching…';
  try {
    const r = await fetch(`/v1/search?q=${encodeURIComponent(q)}&top=24`);
    const j = await r.json();
    if (!r.ok) throw new Error(j.error || r.statusText);
    app.search = j;
    box.textContent = '';
    for (const e of j.results) {
      const b = document.createElement('button');
      b.className = 'thumb';
      b.title = `${e.path} — cosine ${e.score.toFixed(3)}` + (haveSamQuiet() ? ' (click to open)' : ' (click to view)');
      const img = document.createElement('img');
      img.src = `/v1/index/${e.id}?size=192`;
      img.alt = e.path;
      img.loading = 'lazy';
      const cap = document.createElement('span');
      cap.textContent = e.score.toFixed(3);
      b.append(img, cap);
      b.addEventListener('click', () => openIndexed(e));
      box.append(b);
    }
    info.textContent = `best ${j.results.length} of ${j.images} photos, ${(j.encode_ms + j.search_ms).toFixed(1)} ms`;
    history.replaceState(null, '', `?q=${encodeURIComponent(q)}`);
  } catch (e) {
    info.textContent = '';
    setStatus(e.message, true);
  }
}

function haveSamQuiet() { return !!(app.health && app.health.model); }

// A search result: opened for segmentation when the server has SAM, else shown in a new tab.
async function openIndexed(e) {
  if (!haveSamQuiet()) { window.open(`/v1/index/${e.id}`, '_blank'); return; }
  const r = await fetch(`/v1/index/${e.id}`);
  if (!r.ok) { setStatus(`${e.path}: ${r.statusText}`, true); return; }
  const blob = await r.blob();
  openFile(new File([blob], e.path.split('/').pop(), { type: blob.type }));
}

function fitStage() {
  if (!app.image) return;
  const wrap = $('stage-wrap').getBoundingClientRect();
  const s = Math.min((wrap.width - 24) / app.image.width, (wrap.height - 24) / app.image.height);
  $('stage').style.width = Math.floor(app.image.width * s) + 'px';
  $('stage').style.height = Math.floor(app.image.height * s) + 'px';
  $('image').style.width = '100%';
  $('image').style.height = '100%';
  renderPrompts();
}

// ---- mouse ---------------------------------------------------------------------------------------
// Client coordinates -> image pixels (rounded, inside the image).
function toImage(e) {
  const r = $('prompts').getBoundingClientRect();
  const W = app.image.width, H = app.image.height;
  const x = Math.round((e.clientX - r.left) * W / r.width), y = Math.round((e.clientY - r.top) * H / r.height);
  return [Math.min(Math.max(x, 0), W - 1), Math.min(Math.max(y, 0), H - 1)];
}

let drag = null;
function setupMouse() {
  const cv = $('prompts');
  cv.addEventListener('contextmenu', (e) => e.preventDefault());
  cv.addEventListener('pointerdown', (e) => {
    if (!app.image) return;
    e.preventDefault();
    cv.setPointerCapture(e.pointerId);
    drag = { x: e.clientX, y: e.clientY, start: toImage(e), button: e.button, shift: e.shiftKey, moved: false };
  });
  cv.addEventListener('pointermove', (e) => {
    if (!drag) return;
    if (Math.hypot(e.clientX - drag.x, e.clientY - drag.y) > 5 && drag.button === 0) drag.moved = true;
    if (drag.moved) renderPrompts(boxOf(drag.start, toImage(e)));
  });
  cv.addEventListener('pointerup', (e) => {
    if (!drag) return;
    const d = drag;
    drag = null;
    if (d.moved) {
      const b = boxOf(d.start, toImage(e));
      if (b[2] > b[0] && b[3] > b[1]) setBox(b);
      else renderPrompts();
    } else {
      const [x, y] = d.start;
      addPoint(x, y, d.button === 2 || d.shift ? 0 : 1);
    }
  });
  cv.addEventListener('pointercancel', () => { drag = null; renderPrompts(); });
}
function boxOf(a, b) {
  return [Math.min(a[0], b[0]), Math.min(a[1], b[1]), Math.max(a[0], b[0]), Math.max(a[1], b[1])];
}

// ---- keyboard ------------------------------------------------------------------------------------
function setupKeys() {
  document.addEventListener('keydown', (e) => {
    if (e.target instanceof HTMLInputElement) return;
    const k = e.key.toLowerCase(), mod = e.ctrlKey || e.metaKey;
    if (mod && k === 'z') { e.preventDefault(); e.shiftKey ? redo() : undo(); return; }
    if (mod && k === 'y') { e.preventDefault(); redo(); return; }
    if (mod || e.altKey) return;
    if (k === 'escape' && drag) { drag = null; renderPrompts(); return; }
    if (k === 'o') { $('file').click(); return; }
    if (k === 'a' && !$('ask').hidden) { e.preventDefault(); $('ask-input').focus(); return; }
    if (k === 'f' && !$('search').hidden) { e.preventDefault(); $('search-input').focus(); return; }
    if (!app.image) return;
    if (k === 'tab' || k === 'm') { e.preventDefault(); cycleMask(e.shiftKey ? -1 : 1); }
    else if (k === '1' || k === '2' || k === '3') pickMask(Number(k) - 1);
    else if (k === 'n') startNewObject();
    else if (k === 'e') segmentEverything();
    else if (k === 'c') clearAll();
    else if (k === 'delete' || k === 'backspace') removeObject(app.current);
    else if (k === 's') exportMask();
    else if (k === 'x') exportCutout();
    else if (k === 'j') exportJson();
  });
}

// ---- start -----------------------------------------------------------------------------------------
function setup() {
  $('file').addEventListener('change', (e) => { openFile(e.target.files[0]); e.target.value = ''; });
  const wrap = $('stage-wrap');
  wrap.addEventListener('dragover', (e) => { e.preventDefault(); wrap.classList.add('dragover'); });
  wrap.addEventListener('dragleave', () => wrap.classList.remove('dragover'));
  wrap.addEventListener('drop', (e) => {
    e.preventDefault();
    wrap.classList.remove('dragover');
    const f = e.dataTransfer.files && e.dataTransfer.files[0];
    if (f) openFile(f);
  });
  $('new-object').onclick = startNewObject;
  $('everything').onclick = segmentEverything;
  $('undo').onclick = undo;
  $('redo').onclick = redo;
  $('clear').onclick = clearAll;
  $('export-mask').onclick = exportMask;
  $('export-cutout').onclick = exportCutout;
  $('export-json').onclick = exportJson;
  $('ask-form').addEventListener('submit', (e) => {
    e.preventDefault();
    if (app.asking) { app.asking.abort(); return; }
    const input = $('ask-input');
    if (input.value.trim()) { ask(input.value); input.value = ''; }
  });
  $('ask-input').addEventListener('keydown', (e) => { if (e.key === 'Escape') e.target.blur(); });   // back to the shortcuts
  $('search-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const q = $('search-input').value.trim();
    if (q) searchPhotos(q);
  });
  $('search-input').addEventListener('keydown', (e) => { if (e.key === 'Escape') e.target.blur(); });
  window.addEventListener('resize', fitStage);
  setupMouse();
  setupKeys();
  fetch('/v1/health').then((r) => r.json()).then((h) => {
    app.health = h;
    const name = (p) => (p || '').replace(/\/+$/, '').split('/').pop();
    $('server').textContent = (h.model ? `SAM ${name(h.model)}` : 'no SAM') + ` · ${h.backend}` +
                              (h.clip ? ` · CLIP ${name(h.clip)}` : ' · no CLIP labels') + (h.vlm ? ` · VLM ${h.vlm}` : '') +
                              (h.index ? ` · ${h.index} photos indexed` : '');
    $('ask').hidden = !h.vlm;
    $('search').hidden = !h.index;
    const q = new URLSearchParams(location.search).get('q');   // a search's address: /?q=a+red+car
    if (h.index && q) { $('search-input').value = q; searchPhotos(q); }
    updateButtons();
  }).catch(() => setStatus('cannot reach the server', true));
  updateButtons();
}
setup();
