// The formats comparison (issue 16 item 3): per file, the service's output beside a
// plain sharp script's at the same quality (50) with sharp's default effort, both
// scored by SSIM against the input decoded the same way (and resized the same way).
import { execFile } from 'node:child_process';
import { access, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';

const run = promisify(execFile);

/** What a user who never heard of pixbatch would write: quality 50, every other option default. */
export async function plainSharp(input, format, resize = null) {
  const animated = format === 'gif' || format === 'webp';
  const image = sharp(input, { animated }).autoOrient();
  if (resize) {
    const { width, pageHeight, height } = await sharp(input, { animated }).metadata();
    const frameHeight = pageHeight ?? height;
    image.resize({ width: Math.round(width * resize), height: Math.round(frameHeight * resize), fit: 'fill' });
  }
  return image[format](format === 'gif' ? {} : { quality: 50 }).toBuffer();
}

/** The reference pixels for an output of `output`'s size (height per frame): the input, decoded and resized by sharp, flattened on white. */
async function reference(input, animated, width, height) {
  return sharp(input, { animated })
    .autoOrient()
    .resize({ width, height, fit: 'fill' })
    .flatten({ background: '#fff' })
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
}

/**
 * Mean SSIM on luma over 8x8 windows (Wang et al. 2004, constants for 8-bit),
 * every frame of an animation included. 1 is identical.
 */
export async function ssim(input, output, animated = false) {
  const out = await sharp(output, { animated })
    .flatten({ background: '#fff' })
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  const ref = await reference(input, animated, out.info.width, out.info.pageHeight ?? out.info.height);
  return ssimOfRaw(
    luma(ref.data, ref.info.channels),
    luma(out.data, out.info.channels),
    out.info.width,
    out.info.height,
  );
}

function luma(data, channels) {
  const y = new Float64Array(data.length / channels);
  for (let i = 0, p = 0; p < y.length; i += channels, p++) {
    y[p] = channels >= 3 ? 0.299 * data[i] + 0.587 * data[i + 1] + 0.114 * data[i + 2] : data[i];
  }
  return y;
}

function ssimOfRaw(a, b, width, height) {
  const c1 = (0.01 * 255) ** 2;
  const c2 = (0.03 * 255) ** 2;
  let total = 0;
  let windows = 0;
  for (let top = 0; top + 8 <= height; top += 8) {
    for (let left = 0; left + 8 <= width; left += 8) {
      let sa = 0,
        sb = 0,
        saa = 0,
        sbb = 0,
        sab = 0;
      for (let y = top; y < top + 8; y++) {
        for (let x = left; x < left + 8; x++) {
          const p = y * width + x;
          sa += a[p];
          sb += b[p];
          saa += a[p] * a[p];
          sbb += b[p] * b[p];
          sab += a[p] * b[p];
        }
      }
      const ma = sa / 64,
        mb = sb / 64;
      const va = saa / 64 - ma * ma,
        vb = sbb / 64 - mb * mb,
        cov = sab / 64 - ma * mb;
      total += ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2));
      windows++;
    }
  }
  return windows === 0 ? 1 : total / windows;
}

/** ImageMagick's `convert`, when installed (Debian's imagemagick; /usr/local/bin may hold a stand-in). */
export async function imageMagick() {
  for (const path of ['/usr/bin/convert-im6.q16', '/usr/bin/convert', '/usr/bin/magick']) {
    try {
      await access(path);
      await run(path, ['-version']);
      return path;
    } catch {
      // next candidate
    }
  }
  return null;
}

/** `convert in.gif -coalesce [-resize 50%] -layers optimize out.gif`: ImageMagick's best effort at a GIF. */
export async function imageMagickGif(convert, input, resize = null) {
  const dir = await mkdtemp(join(tmpdir(), 'pixbatch-im-'));
  try {
    await writeFile(join(dir, 'in.gif'), input);
    const args = [
      join(dir, 'in.gif'),
      '-coalesce',
      ...(resize ? ['-resize', `${resize * 100}%`] : []),
      '-layers',
      'optimize',
      join(dir, 'out.gif'),
    ];
    await run(convert, args);
    return await readFile(join(dir, 'out.gif'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Every file through `transform` (the service's ImageTransformer) and through
 * plainSharp. Returns per-file rows and per-format sums; times are the median of `runs`.
 */
export async function compareFormats(files, transformer, { resize = null, runs = 3 } = {}) {
  const rows = [];
  for (const file of files) {
    const animated = file.format === 'gif' || file.format === 'webp';
    const ours = await timed(runs, () => transformer.transform(file.data, { resize }).then((r) => r.data));
    const plain = await timed(runs, () => plainSharp(file.data, file.format, resize));
    rows.push({
      name: file.name,
      format: file.format,
      bytesIn: file.data.length,
      ours: { bytes: ours.value.length, ssim: await ssim(file.data, ours.value, animated), ms: ours.ms },
      plain: { bytes: plain.value.length, ssim: await ssim(file.data, plain.value, animated), ms: plain.ms },
    });
  }
  return rows;
}

async function timed(runs, work) {
  const times = [];
  let value;
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    value = await work();
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return { value, ms: times[Math.floor(times.length / 2)] };
}

const FORMATS = { jpeg: 'jpeg', png: 'png', gif: 'gif' };

/** The readable files of test/fixtures/real-images.sh's set (it unpacks them on first use). */
export async function realImageFiles() {
  const fixtures = join(import.meta.dirname, '..', '..', 'test', 'fixtures');
  const { stdout } = await run('bash', [join(fixtures, 'real-images.sh')]);
  const root = stdout.trim().split('\n').pop();
  const files = [];
  for (const dir of [join(root, 'go', 'image'), join(root, 'go', 'png'), join(root, 'go', 'png', 'pngsuite')]) {
    for (const name of (await readdir(dir)).sort()) {
      const format = FORMATS[name.split('.').pop()];
      if (format && !name.startsWith('invalid-')) files.push({ name, format, data: await readFile(join(dir, name)) });
    }
  }
  return files;
}

/** A flat-colour animation like a shop's banner: 12 frames of 480x320 shapes and text. */
export async function flatGif() {
  const frames = [];
  for (let i = 0; i < 12; i++) {
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="480" height="320"><rect width="100%" height="100%" fill="#f4e9d0"/>
      <rect x="${20 + i * 25}" y="60" width="120" height="90" fill="#d23c2a"/><circle cx="${400 - i * 20}" cy="220" r="60" fill="#2a6bd2"/>
      <polygon points="${200 + i * 5},20 ${260 + i * 5},140 ${140 + i * 5},140" fill="#2f9e44"/>
      <text x="20" y="300" font-size="28" font-family="sans-serif" fill="#222">SALE ${i}</text></svg>`;
    frames.push(await sharp(Buffer.from(svg)).png().toBuffer());
  }
  return sharp(frames, { join: { animated: true } })
    .gif({ delay: 100, loop: 0 })
    .toBuffer();
}
