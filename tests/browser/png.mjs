// png.mjs — a minimal PNG reader for the browser tests, so that downloaded files and the API's
// masks are checked without a browser's decoder: 8-bit gray, gray+alpha, RGB, RGBA and
// palette images, not interlaced (what libpng in `vlm serve` and the browsers' canvas encoders
// write). Returns { width, height, channels, data }: `channels` bytes per pixel, row-major.
import { inflateSync } from 'node:zlib';

const CHANNELS = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

export function decodePng(buf) {
  if (buf.length < 8 || buf.readUInt32BE(0) !== 0x89504e47 || buf.readUInt32BE(4) !== 0x0d0a1a0a)
    throw new Error('not a PNG');
  let pos = 8, width = 0, height = 0, depth = 0, type = -1, interlace = 0, palette = null, trns = null;
  const idat = [];
  while (pos + 8 <= buf.length) {
    const len = buf.readUInt32BE(pos), tag = buf.toString('latin1', pos + 4, pos + 8);
    const data = buf.subarray(pos + 8, pos + 8 + len);
    if (tag === 'IHDR') {
      width = data.readUInt32BE(0); height = data.readUInt32BE(4);
      depth = data[8]; type = data[9]; interlace = data[12];
    } else if (tag === 'PLTE') palette = data;
    else if (tag === 'tRNS') trns = data;
    else if (tag === 'IDAT') idat.push(data);
    else if (tag === 'IEND') break;
    pos += 12 + len;
  }
  const ch = CHANNELS[type];
  if (depth !== 8 || !ch || interlace) throw new Error(`unsupported PNG: depth ${depth}, type ${type}, interlace ${interlace}`);
  const raw = inflateSync(Buffer.concat(idat)), stride = width * ch;
  if (raw.length < height * (stride + 1)) throw new Error('PNG data too short');
  const out = Buffer.alloc(height * stride);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)], src = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const row = out.subarray(y * stride, (y + 1) * stride), up = y ? out.subarray((y - 1) * stride, y * stride) : null;
    for (let i = 0; i < stride; i++) {
      const a = i >= ch ? row[i - ch] : 0, b = up ? up[i] : 0, c = up && i >= ch ? up[i - ch] : 0;
      let v = src[i];
      if (f === 1) v += a;
      else if (f === 2) v += b;
      else if (f === 3) v += (a + b) >> 1;
      else if (f === 4) {
        const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
        v += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      } else if (f !== 0) throw new Error(`bad PNG filter ${f}`);
      row[i] = v & 255;
    }
  }
  if (type !== 3) return { width, height, channels: ch, data: out };
  // palette: expand to RGBA
  const rgba = Buffer.alloc(width * height * 4);
  for (let i = 0; i < width * height; i++) {
    const k = out[i];
    rgba[4 * i] = palette[3 * k]; rgba[4 * i + 1] = palette[3 * k + 1]; rgba[4 * i + 2] = palette[3 * k + 2];
    rgba[4 * i + 3] = trns && k < trns.length ? trns[k] : 255;
  }
  return { width, height, channels: 4, data: rgba };
}

// Value of channel c (clamped to the last one) of pixel i.
export const channel = (png, i, c) => png.data[i * png.channels + Math.min(c, png.channels - 1)];
// Alpha of pixel i (255 without an alpha channel).
export const alpha = (png, i) => (png.channels === 2 || png.channels === 4 ? png.data[i * png.channels + png.channels - 1] : 255);
