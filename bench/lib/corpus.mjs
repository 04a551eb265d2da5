// The benchmark corpus: photo-like images generated with sharp from a seed, so
// every file has distinct content and the set is the same on every machine.
// Generated once and cached under bench/.corpus (gitignored); the manifest's
// version changes whenever the recipe does, which regenerates the cache, as does
// a change of the sets (the smoke run passes smaller ones, cached elsewhere).
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';

const VERSION = 1;

/**
 * Sets by name. The 1600x1200 JPEGs are the throughput target of issue 5, 600 of
 * them since issue 23 (the batch it measures the pipeline on); the 1200x1200 JPEGs
 * give PNG, WebP and GIF a same-pixel-count reference; the 2000x1500 JPEGs are the
 * resize case.
 */
export const SETS = {
  'jpeg-1600': { format: 'jpeg', width: 1600, height: 1200, count: 600 },
  'jpeg-2000': { format: 'jpeg', width: 2000, height: 1500, count: 60 },
  'jpeg-1200sq': { format: 'jpeg', width: 1200, height: 1200, count: 24 },
  'jpeg-800': { format: 'jpeg', width: 800, height: 600, count: 40 },
  'png-1200sq': { format: 'png', width: 1200, height: 1200, count: 24 },
  'png-alpha-800': { format: 'png', width: 800, height: 800, count: 12, alpha: true },
  'webp-1200sq': { format: 'webp', width: 1200, height: 1200, count: 24 },
  'gif-anim-320': { format: 'gif', width: 320, height: 240, count: 12, frames: 8 },
};

const EXTENSION = { jpeg: 'jpg', png: 'png', webp: 'webp', gif: 'gif' };

/** Loads the cached corpus of `sets`, generating what is missing. Returns name -> [{ name, path, data }]. */
export async function loadCorpus(dir, log, sets = SETS) {
  await mkdir(dir, { recursive: true });
  const manifestPath = join(dir, 'manifest.json');
  const manifest = await readFile(manifestPath, 'utf8').then(JSON.parse, () => null);
  if (manifest?.version !== VERSION || JSON.stringify(manifest.sets) !== JSON.stringify(sets)) {
    for (const entry of await readdir(dir)) await rm(join(dir, entry), { recursive: true, force: true });
  }
  const corpus = {};
  let seed = 0;
  for (const [name, set] of Object.entries(sets)) {
    const setDir = join(dir, name);
    await mkdir(setDir, { recursive: true });
    const present = new Set(await readdir(setDir));
    const missing = [];
    const files = [];
    for (let n = 1; n <= set.count; n++) {
      seed++;
      const file = `${n}.${EXTENSION[set.format]}`;
      files.push(file);
      if (!present.has(file)) missing.push({ file, seed });
    }
    if (missing.length > 0) {
      log(`generating ${missing.length} ${name} images…`);
      // Two at a time: one per core of the reference machine.
      for (let i = 0; i < missing.length; i += 2) {
        await Promise.all(
          missing.slice(i, i + 2).map(async ({ file, seed: s }) => writeFile(join(setDir, file), await encode(set, s))),
        );
      }
    }
    corpus[name] = await Promise.all(
      files.map(async (file) => ({ name: file, path: join(setDir, file), data: await readFile(join(setDir, file)) })),
    );
  }
  await writeFile(manifestPath, JSON.stringify({ version: VERSION, sets }));
  return corpus;
}

async function encode(set, seed) {
  if (set.format === 'gif') {
    const frames = [];
    for (let f = 0; f < set.frames; f++)
      frames.push(await (await photo(set.width, set.height, seed * 100 + f)).png().toBuffer());
    return sharp(frames, { join: { animated: true } })
      .gif({ delay: Array(set.frames).fill(100), loop: 0 })
      .toBuffer();
  }
  let image = await photo(set.width, set.height, seed);
  if (set.alpha) image = sharp(await image.ensureAlpha(0.85).png().toBuffer());
  switch (set.format) {
    case 'jpeg':
      // What cameras and shops upload: high quality, 4:2:0.
      return image.jpeg({ quality: 90 }).toBuffer();
    case 'png':
      return image.png().toBuffer();
    case 'webp':
      return image.webp({ quality: 90 }).toBuffer();
    default:
      throw new Error(`no recipe for ${set.format}`);
  }
}

/**
 * Shaded shapes with hard edges over a gradient, a two-scale luminance texture
 * and sensor-like noise: at quality 90 this lands at ~2.2 bits per pixel, the
 * size of a real product photo, so decoders and encoders do realistic work.
 */
export async function photo(width, height, seed) {
  const random = xorshift(seed);
  const color = () => `rgb(${[0, 0, 0].map(() => Math.floor(random() * 256)).join(',')})`;
  const shapes = 14;
  let svg = `<defs><linearGradient id="bg" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="${color()}"/><stop offset="1" stop-color="${color()}"/></linearGradient>`;
  for (let k = 0; k < shapes; k++) {
    svg += `<radialGradient id="g${k}"><stop offset="0" stop-color="${color()}"/><stop offset="1" stop-color="${color()}"/></radialGradient>`;
  }
  svg += `</defs><rect width="${width}" height="${height}" fill="url(#bg)"/>`;
  for (let k = 0; k < shapes; k++) {
    const x = random() * width;
    const y = random() * height;
    const rx = (0.05 + random() * 0.25) * width;
    const ry = (0.05 + random() * 0.25) * height;
    const opacity = 0.6 + random() * 0.4;
    svg +=
      random() < 0.5
        ? `<ellipse cx="${x}" cy="${y}" rx="${rx}" ry="${ry}" fill="url(#g${k})" opacity="${opacity}"/>`
        : `<rect x="${x - rx}" y="${y - ry}" width="${2 * rx}" height="${2 * ry}" transform="rotate(${random() * 90 - 45} ${x} ${y})" fill="url(#g${k})" opacity="${opacity}"/>`;
  }
  const document = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${svg}</svg>`;
  const [base, coarse, fine] = await Promise.all([
    sharp(Buffer.from(document)).removeAlpha().raw().toBuffer(),
    texture(width, height, 24, random),
    texture(width, height, 3, random),
  ]);
  const out = Buffer.alloc(width * height * 3);
  for (let p = 0, i = 0; p < width * height; p++) {
    const shade = (coarse[p] - 128) * 0.25 + (fine[p] - 128) * 0.22 + (random() - 0.5) * 8;
    for (let c = 0; c < 3; c++, i++) {
      const v = base[i] + shade;
      out[i] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
  return sharp(out, { raw: { width, height, channels: 3 } });
}

/** Grey noise at 1/scale resolution, upsampled: blotches `scale` pixels across. */
function texture(width, height, scale, random) {
  const w = Math.max(2, Math.round(width / scale));
  const h = Math.max(2, Math.round(height / scale));
  const cells = Buffer.alloc(w * h);
  for (let i = 0; i < cells.length; i++) cells[i] = random() * 256;
  return sharp(cells, { raw: { width: w, height: h, channels: 1 } })
    .resize(width, height, { kernel: 'cubic', fit: 'fill' })
    .raw()
    .toBuffer();
}

function xorshift(seed) {
  let state = Math.imul(seed + 1, 2654435761) >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 4294967296;
  };
}
