import sharp from 'sharp';
import { sniffImageFormat } from './image-format.js';
import { ImageTransformer } from './image-transformer.js';

/** Noise over a gradient: compresses like a photo, so quality changes its bytes. */
function photo(width: number, height: number, channels: 3 | 4 = 3) {
  const pixels = Buffer.alloc(width * height * channels);
  let state = 7;
  for (let i = 0; i < pixels.length; i++) {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    const x = Math.floor(i / channels) % width;
    pixels[i] = i % channels === 3 ? 255 : Math.round((x / width) * 200 + (state / 0x7fffffff) * 55);
  }
  return sharp(pixels, { raw: { width, height, channels } });
}

/** Left half opaque red, right half fully transparent. */
async function halfTransparentPng(): Promise<Buffer> {
  const red = await sharp({ create: { width: 50, height: 60, channels: 4, background: '#d00000ff' } })
    .png()
    .toBuffer();
  return sharp({ create: { width: 100, height: 60, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } })
    .composite([{ input: red, left: 0, top: 0 }])
    .png()
    .toBuffer();
}

async function animatedGif(): Promise<Buffer> {
  const pages = await Promise.all(
    ['#d22', '#2a2', '#22d'].map((colour) =>
      sharp({ create: { width: 64, height: 48, channels: 4, background: colour } })
        .png()
        .toBuffer(),
    ),
  );
  return sharp(pages, { join: { animated: true } })
    .gif({ delay: 100 })
    .toBuffer();
}

describe('ImageTransformer options (maxWidth, maxHeight, quality, format)', () => {
  const transformer = new ImageTransformer({ maxPixels: 50_000_000, timeoutSeconds: 30 });
  let landscape: Buffer;
  let portrait: Buffer;

  beforeAll(async () => {
    landscape = await photo(800, 600).jpeg({ quality: 95 }).toBuffer();
    portrait = await photo(300, 900).jpeg({ quality: 95 }).toBuffer();
  }, 30_000);

  describe('maxWidth and maxHeight', () => {
    it.each([
      ['maxWidth alone', { maxWidth: 400 }, 400, 300],
      ['maxHeight alone', { maxHeight: 150 }, 200, 150],
      ['both, width binding', { maxWidth: 200, maxHeight: 400 }, 200, 150],
      ['both, height binding', { maxWidth: 700, maxHeight: 300 }, 400, 300],
    ])('fits inside the bound with %s, aspect kept', async (_name, bounds, width, height) => {
      const result = await transformer.transform(landscape, { resize: null, ...bounds });
      expect(result).toMatchObject({ width, height, format: 'jpeg', keptOriginal: false });
      expect(await sharp(result.data).metadata()).toMatchObject({ width, height });
    });

    it('never enlarges an image already inside the bounds', async () => {
      const result = await transformer.transform(portrait, { resize: null, maxWidth: 1000, maxHeight: 1000 });
      expect(result).toMatchObject({ width: 300, height: 900 });
    });

    it('bounds the portrait by its height and rounds the other side', async () => {
      const result = await transformer.transform(portrait, { resize: null, maxWidth: 500, maxHeight: 100 });
      expect(result).toMatchObject({ width: 33, height: 100 });
    });

    it('refuses a bound combined with resize, or a bound that is not a positive integer', async () => {
      await expect(transformer.transform(landscape, { resize: 0.5, maxWidth: 100 })).rejects.toThrow(RangeError);
      await expect(transformer.transform(landscape, { resize: null, maxWidth: 0 })).rejects.toThrow(RangeError);
      await expect(transformer.transform(landscape, { resize: null, maxHeight: 10.5 })).rejects.toThrow(RangeError);
    });

    it('shrinks a JPEG on load, when enabled, for a bound that divides it by 2 or more', async () => {
      const shrinking = new ImageTransformer({ maxPixels: 50_000_000, jpegShrinkOnLoad: true });
      const plain = new ImageTransformer({ maxPixels: 50_000_000 });
      const a = await shrinking.transform(landscape, { resize: null, maxWidth: 200 });
      const b = await plain.transform(landscape, { resize: null, maxWidth: 200 });
      expect([a.width, a.height]).toEqual([200, 150]);
      // Same size, other pixels: libjpeg's 1/4 scaling against sharp's own choice (1/2 here, Lanczos the rest).
      expect(a.data.equals(b.data)).toBe(false);
    });
  });

  describe('quality', () => {
    it('writes fewer bytes at a lower quality, more at a higher one', async () => {
      const sizes = [];
      for (const quality of [10, 50, 90]) {
        sizes.push((await transformer.transform(landscape, { resize: null, quality })).bytesOut);
      }
      expect(sizes[0]).toBeLessThan(sizes[1]);
      expect(sizes[1]).toBeLessThan(sizes[2]);
    });

    it('defaults to 50, as before the option existed', async () => {
      const implicit = await transformer.transform(landscape, { resize: 0.5 });
      const explicit = await transformer.transform(landscape, { resize: 0.5, quality: 50 });
      expect(implicit.data.equals(explicit.data)).toBe(true);
    });

    it.each([0, 101, 49.5])('refuses quality %p', async (quality) => {
      await expect(transformer.transform(landscape, { resize: null, quality })).rejects.toThrow(RangeError);
    });
  });

  describe('format', () => {
    it.each(['jpeg', 'webp', 'avif', 'png'] as const)('writes %s from a JPEG', async (format) => {
      const result = await transformer.transform(landscape, { resize: null, maxWidth: 200, format });
      expect(result.format).toBe(format);
      expect(sniffImageFormat(result.data)).toBe(format);
      expect(transformer.outputFormat(landscape, { format })).toBe(format);
    });

    it('names the input format for keep, and when the option is absent', () => {
      expect(transformer.outputFormat(landscape, { format: 'keep' })).toBe('jpeg');
      expect(transformer.outputFormat(landscape, {})).toBe('jpeg');
    });

    it('flattens transparency onto white for JPEG', async () => {
      const result = await transformer.transform(await halfTransparentPng(), { resize: null, format: 'jpeg' });
      expect(result.format).toBe('jpeg');
      const { data, info } = await sharp(result.data).raw().toBuffer({ resolveWithObject: true });
      expect(info.channels).toBe(3);
      const at = (x: number, y: number) => [...data.subarray((y * info.width + x) * 3, (y * info.width + x) * 3 + 3)];
      // The transparent right half is white, not libvips' default black; the opaque left half stays red.
      for (const channel of at(90, 30)) expect(channel).toBeGreaterThan(245);
      const [r, g, b] = at(10, 30);
      expect(r).toBeGreaterThan(180);
      expect(g).toBeLessThan(40);
      expect(b).toBeLessThan(40);
    });

    it('keeps the alpha channel for WebP, AVIF and PNG', async () => {
      const input = await halfTransparentPng();
      for (const format of ['webp', 'avif', 'png'] as const) {
        const result = await transformer.transform(input, { resize: null, format });
        expect(await sharp(result.data).metadata()).toMatchObject({ hasAlpha: true });
      }
    });

    it('writes an animation as one frame in a format without animation, every frame in WebP', async () => {
      const gif = await animatedGif();
      const still = await transformer.transform(gif, { resize: null, format: 'png' });
      expect(await sharp(still.data).metadata()).toMatchObject({ width: 64, height: 48 });
      expect((await sharp(still.data).metadata()).pages ?? 1).toBe(1);
      const moving = await transformer.transform(gif, { resize: null, format: 'webp' });
      expect(await sharp(moving.data, { animated: true }).metadata()).toMatchObject({ pages: 3, pageHeight: 48 });
    });

    it('hands back the input when re-encoding is larger only with keep; a chosen format is written anyway', async () => {
      // Already at quality 20: re-encoding at 100 only adds bytes.
      const small = await photo(200, 150).jpeg({ quality: 20 }).toBuffer();
      const kept = await transformer.transform(small, { resize: null, quality: 100 });
      expect(kept.keptOriginal).toBe(true);
      expect(kept.bytesOut).toBeLessThanOrEqual(small.length);
      const chosen = await transformer.transform(small, { resize: null, quality: 100, format: 'jpeg' });
      expect(chosen.keptOriginal).toBe(false);
      expect(chosen.bytesOut).toBeGreaterThan(small.length);
    });
  });
});
