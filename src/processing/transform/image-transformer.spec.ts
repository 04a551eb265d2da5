import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import sharp from 'sharp';
import { ImageErrorCode, ImageJobError } from '../image-error.js';
import { type ImageFormat, sniffImageFormat } from './image-format.js';
import { ImageTransformer, MAX_FRAMES } from './image-transformer.js';

const MAX_PIXELS = 50_000_000;

/** Raw pixels from `pixel`, given the position and a repeatable per-pixel noise term. */
function generate(
  width: number,
  height: number,
  channels: 3 | 4,
  pixel: (x: number, y: number, noise: number) => number[],
) {
  const pixels = Buffer.alloc(width * height * channels);
  let state = 1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      state = (state * 1103515245 + 12345) & 0x7fffffff;
      const values = pixel(x, y, (state / 0x7fffffff - 0.5) * 40);
      for (let channel = 0; channel < channels; channel++) {
        pixels[(y * width + x) * channels + channel] = Math.max(0, Math.min(255, Math.round(values[channel])));
      }
    }
  }
  return sharp(pixels, { raw: { width, height, channels } });
}

/** Smooth gradients and waves under noise: compresses like a photo, not like flat art. Alpha fades left to right. */
function photo(width: number, height: number, options: { alpha?: boolean } = {}) {
  return generate(width, height, options.alpha ? 4 : 3, (x, y, noise) => [
    128 + 100 * Math.sin(x / 37) * Math.cos(y / 53) + noise,
    (x / width) * 255 + noise,
    (y / height) * 255 + noise,
    255 - (x / width) * 200,
  ]);
}

/** One colour under noise. */
function noisy(width: number, height: number, [r, g, b]: [number, number, number]) {
  return generate(width, height, 3, (_x, _y, noise) => [r + noise, g + noise, b + noise]);
}

/** Stored 300x200 with red on the left and blue on the right; displayed rotated 90 degrees clockwise. */
async function rotatedJpeg(): Promise<Buffer> {
  const blue = await noisy(150, 200, [30, 30, 200]).png().toBuffer();
  return noisy(300, 200, [200, 30, 30])
    .composite([{ input: blue, left: 150, top: 0 }])
    .jpeg({ quality: 95 })
    .withMetadata({ orientation: 6 })
    .toBuffer();
}

async function animatedGif(frames: number, width = 64, height = 48): Promise<Buffer> {
  const colours = ['#d22', '#2a2', '#22d', '#dd2', '#2dd', '#d2d'];
  const pages = await Promise.all(
    Array.from({ length: frames }, (_, index) =>
      sharp({ create: { width, height, channels: 4, background: colours[index % colours.length] } })
        .png()
        .toBuffer(),
    ),
  );
  return sharp(pages, { join: { animated: true } })
    .gif({ delay: 100 })
    .toBuffer();
}

/** A valid 1x1 PNG whose IHDR (with a matching CRC) declares width x height. */
async function pngDeclaring(width: number, height: number): Promise<Buffer> {
  const white = sharp({ create: { width: 1, height: 1, channels: 3, background: '#fff' } });
  const png = Buffer.from(await white.png().toBuffer());
  // Signature (8), then the IHDR chunk: length (4), type (4), data (13), CRC over type and data.
  png.writeUInt32BE(width, 16);
  png.writeUInt32BE(height, 20);
  png.writeUInt32BE(crc32(png.subarray(12, 29)), 29);
  return png;
}

function truncated(bytes: Buffer): Buffer {
  return bytes.subarray(0, Math.floor(bytes.length * 0.6));
}

/** Mean sRGB colour of the image, or of a band of whole rows. */
async function meanColour(image: Buffer, rows?: { top: number; height: number }) {
  let region = image;
  if (rows) {
    const { width } = await sharp(image).metadata();
    region = await sharp(image)
      .extract({ left: 0, width, ...rows })
      .toBuffer();
  }
  const { channels } = await sharp(region).stats();
  return { r: channels[0].mean, g: channels[1].mean, b: channels[2].mean };
}

type Fixture = 'jpeg' | 'png' | 'webp' | 'avif' | 'gif' | 'stillGif' | 'rotated' | 'cmyk' | 'tinyJpeg';

describe('ImageTransformer', () => {
  const transformer = new ImageTransformer({ maxPixels: MAX_PIXELS, timeoutSeconds: 30 });
  const fixtures = {} as Record<Fixture, Buffer>;

  beforeAll(async () => {
    const [jpeg, png, webp, avif, gif, stillGif, rotated, cmyk, tinyJpeg] = await Promise.all([
      photo(800, 600).jpeg({ quality: 95 }).toBuffer(),
      photo(400, 300, { alpha: true }).png().toBuffer(),
      photo(400, 300, { alpha: true }).webp({ quality: 95 }).toBuffer(),
      photo(256, 192).avif({ quality: 90, effort: 0 }).toBuffer(),
      animatedGif(4),
      photo(200, 150).gif().toBuffer(),
      rotatedJpeg(),
      noisy(128, 96, [220, 30, 30]).toColourspace('cmyk').jpeg({ quality: 95 }).toBuffer(),
      photo(64, 64).jpeg({ quality: 30 }).toBuffer(),
    ]);
    Object.assign(fixtures, { jpeg, png, webp, avif, gif, stillGif, rotated, cmyk, tinyJpeg });
    // Encoding the fixtures takes about a second alone and several on a busy shared machine.
  }, 30_000);

  const expectFailure = async (input: Buffer, code: string, using = transformer) => {
    const error: unknown = await using.transform(input, { resize: null }).then(
      () => undefined,
      (reason: unknown) => reason,
    );
    expect(error).toBeInstanceOf(ImageJobError);
    expect(error).toMatchObject({ code, retryable: false });
    return error as ImageJobError;
  };

  describe('output format', () => {
    it.each<ImageFormat>(['jpeg', 'png', 'webp', 'avif', 'gif'])('keeps %s in its own format', async (format) => {
      const result = await transformer.transform(fixtures[format], { resize: null });

      expect(result.format).toBe(format);
      expect(sniffImageFormat(result.data)).toBe(format);
      expect(result.bytesIn).toBe(fixtures[format].length);
      expect(result.bytesOut).toBe(result.data.length);
      expect(result.bytesOut).toBeLessThanOrEqual(result.bytesIn);
    });

    it('makes the photo JPEG smaller, at quality 50 and without metadata', async () => {
      const result = await transformer.transform(fixtures.jpeg, { resize: null });

      expect(result).toMatchObject({ keptOriginal: false, width: 800, height: 600 });
      expect(result.bytesOut).toBeLessThan(result.bytesIn / 2);
      const metadata = await sharp(result.data).metadata();
      expect(metadata).toMatchObject({ space: 'srgb', isProgressive: false, hasProfile: false });
      expect(metadata.exif).toBeUndefined();
    });

    it('makes the photo PNG smaller as a palette image and keeps its alpha', async () => {
      const result = await transformer.transform(fixtures.png, { resize: null });

      expect(result).toMatchObject({ keptOriginal: false, width: 400, height: 300 });
      expect(result.bytesOut).toBeLessThan(result.bytesIn / 2);
      const metadata = await sharp(result.data).metadata();
      expect(metadata).toMatchObject({ isPalette: true, hasAlpha: true });
      const alpha = (await sharp(result.data).stats()).channels[3];
      expect(alpha.min).toBeLessThan(100);
    });

    it('keeps alpha in WebP', async () => {
      const result = await transformer.transform(fixtures.webp, { resize: null });

      expect(result.keptOriginal).toBe(false);
      expect((await sharp(result.data).metadata()).hasAlpha).toBe(true);
    });
  });

  describe('orientation and colour', () => {
    it('applies EXIF orientation 6 and reports the displayed size', async () => {
      const result = await transformer.transform(fixtures.rotated, { resize: null });

      expect(result).toMatchObject({ keptOriginal: false, width: 200, height: 300 });
      const metadata = await sharp(result.data).metadata();
      expect(metadata).toMatchObject({ width: 200, height: 300 });
      expect(metadata.orientation).toBeUndefined();
      // The stored left (red) edge is the displayed top.
      const top = await meanColour(result.data, { top: 0, height: 100 });
      const bottom = await meanColour(result.data, { top: 200, height: 100 });
      expect(top.r).toBeGreaterThan(top.b + 50);
      expect(bottom.b).toBeGreaterThan(bottom.r + 50);
    });

    it('resizes the oriented image', async () => {
      const result = await transformer.transform(fixtures.rotated, { resize: 0.5 });

      expect(result).toMatchObject({ width: 100, height: 150 });
      expect(await sharp(result.data).metadata()).toMatchObject({ width: 100, height: 150 });
    });

    it('keeps the stored orientation of an animation, which libvips cannot rotate', async () => {
      const colours: [number, number, number][] = [
        [200, 30, 30],
        [30, 200, 30],
        [30, 30, 200],
      ];
      const frames = await Promise.all(colours.map((colour) => noisy(80, 40, colour).png().toBuffer()));
      const webp = await sharp(frames, { join: { animated: true } })
        .webp({ quality: 95 })
        .withMetadata({ orientation: 6 })
        .toBuffer();

      const result = await transformer.transform(webp, { resize: 0.5 });

      expect(result).toMatchObject({ format: 'webp', width: 40, height: 20 });
      expect(await sharp(result.data, { animated: true }).metadata()).toMatchObject({ pages: 3, pageHeight: 20 });
    });

    it('converts a CMYK JPEG to 3-channel sRGB without inverting it', async () => {
      expect(await sharp(fixtures.cmyk).metadata()).toMatchObject({ space: 'cmyk', channels: 4 });

      const result = await transformer.transform(fixtures.cmyk, { resize: null });

      expect(result.format).toBe('jpeg');
      expect(await sharp(result.data).metadata()).toMatchObject({ space: 'srgb', channels: 3 });
      const colour = await meanColour(result.data);
      expect(colour.r).toBeGreaterThan(150);
      expect(colour.g).toBeLessThan(90);
      expect(colour.b).toBeLessThan(90);
    });

    it('converts colours from an embedded profile to sRGB and drops the profile', async () => {
      const p3 = await noisy(128, 96, [200, 40, 40]).withIccProfile('p3').jpeg({ quality: 95 }).toBuffer();
      const stored = await meanColour(p3);
      expect(Math.abs(stored.r - 200) + Math.abs(stored.g - 40)).toBeGreaterThan(15);

      const result = await transformer.transform(p3, { resize: null });

      expect((await sharp(result.data).metadata()).hasProfile).toBe(false);
      const colour = await meanColour(result.data);
      expect(Math.abs(colour.r - 200)).toBeLessThan(8);
      expect(Math.abs(colour.g - 40)).toBeLessThan(8);
      expect(Math.abs(colour.b - 40)).toBeLessThan(8);
    });
  });

  describe('colour fidelity', () => {
    it('converts a 16-bit PNG from its embedded profile, as an 8-bit one is', async () => {
      const p3 = noisy(96, 64, [200, 40, 40]).withIccProfile('p3');
      const deep = await p3.clone().toColourspace('rgb16').png().toBuffer();
      expect(await sharp(deep).metadata()).toMatchObject({ depth: 'ushort', hasProfile: true });

      const result = await transformer.transform(deep, { resize: null });

      const colour = await meanColour(result.data);
      expect(Math.abs(colour.r - 200)).toBeLessThan(6);
      expect(Math.abs(colour.g - 40)).toBeLessThan(6);
      expect(Math.abs(colour.b - 40)).toBeLessThan(6);
    });

    // Untagged CMYK is measured against Pillow's conversion in test/integration/real-images.spec.ts.

    it.each([
      ['JPEG', () => noisy(96, 64, [120, 120, 120]).toColourspace('b-w').jpeg({ quality: 95 }).toBuffer()],
      ['PNG', () => photo(96, 64).toColourspace('b-w').png().toBuffer()],
      ['16-bit PNG', () => photo(96, 64).toColourspace('grey16').png().toBuffer()],
    ])('keeps a grey %s grey: one channel out', async (_name, make) => {
      const grey = await make();
      expect((await sharp(grey).metadata()).channels).toBe(1);

      const result = await transformer.transform(grey, { resize: 0.5 });

      expect(result.keptOriginal).toBe(false);
      expect(await sharp(result.data).metadata()).toMatchObject({ channels: 1, space: 'b-w' });
    });
  });

  describe('metadata', () => {
    const gps = {
      IFD0: { Copyright: 'Jane Doe, 12 Secret Lane' },
      IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '51/1 30/1 0/1' },
    };

    it('strips EXIF from a kept original without re-encoding it, orientation included as its only tag', async () => {
      // The EXIF segment sharp writes, spliced into the kept fixture without re-encoding it.
      const donor = await sharp(fixtures.tinyJpeg).withExif(gps).withMetadata({ orientation: 6 }).toBuffer();
      const app1 = donor.indexOf(Buffer.from([0xff, 0xe1]));
      const exif = donor.subarray(app1, app1 + 2 + donor.readUInt16BE(app1 + 2));
      const tagged = Buffer.concat([fixtures.tinyJpeg.subarray(0, 2), exif, fixtures.tinyJpeg.subarray(2)]);
      expect(tagged.includes('Secret Lane')).toBe(true);

      const result = await transformer.transform(tagged, { resize: null });

      expect(result.keptOriginal).toBe(true);
      expect(result.data.includes('Secret Lane')).toBe(false);
      expect(result.data.includes('GPS')).toBe(false);
      expect(await sharp(result.data).metadata()).toMatchObject({ orientation: 6, width: 64, height: 64 });
      // The scan data is the input's, byte for byte.
      expect(tagged.subarray(tagged.indexOf(Buffer.from([0xff, 0xda])))).toEqual(
        result.data.subarray(result.data.indexOf(Buffer.from([0xff, 0xda]))),
      );
      expect(result.bytesOut).toBe(result.data.length);
    });

    it('writes no EXIF into a re-encoded output', async () => {
      const tagged = await sharp(fixtures.jpeg).withExif(gps).toBuffer();

      const result = await transformer.transform(tagged, { resize: null });

      expect(result.keptOriginal).toBe(false);
      expect(result.data.includes('Secret Lane')).toBe(false);
      expect((await sharp(result.data).metadata()).exif).toBeUndefined();
    });

    it('drops text chunks from a kept PNG and keeps the rest', async () => {
      const tiny = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#c33' } })
        .png()
        .toBuffer();
      const iend = tiny.length - 12;
      const text = Buffer.from('tEXtComment\0GPS 51.5N, home of Jane Doe', 'latin1');
      const chunk = Buffer.alloc(text.length + 8);
      chunk.writeUInt32BE(text.length - 4, 0);
      text.copy(chunk, 4);
      chunk.writeUInt32BE(crc32(text), text.length + 4);
      const tagged = Buffer.concat([tiny.subarray(0, iend), chunk, tiny.subarray(iend)]);

      const result = await transformer.transform(tagged, { resize: null });

      expect(result.keptOriginal).toBe(true);
      expect(result.data.includes('Jane Doe')).toBe(false);
      expect(result.data).toEqual(tiny);
    });
  });

  describe('resize', () => {
    it('halves both dimensions at 0.5', async () => {
      const result = await transformer.transform(fixtures.jpeg, { resize: 0.5 });

      expect(result).toMatchObject({ format: 'jpeg', width: 400, height: 300, keptOriginal: false });
      expect(await sharp(result.data).metadata()).toMatchObject({ width: 400, height: 300 });
    });

    it('rounds each side and never goes below one pixel', async () => {
      const odd = await photo(301, 201).png().toBuffer();

      expect(await transformer.transform(odd, { resize: 0.5 })).toMatchObject({ width: 151, height: 101 });
      expect(await transformer.transform(odd, { resize: 0.001 })).toMatchObject({ width: 1, height: 1 });
    });

    it('keeps every frame of an animated GIF, each resized', async () => {
      const result = await transformer.transform(fixtures.gif, { resize: 0.5 });

      expect(result).toMatchObject({ format: 'gif', width: 32, height: 24, keptOriginal: false });
      expect(await sharp(result.data, { animated: true }).metadata()).toMatchObject({
        pages: 4,
        width: 32,
        pageHeight: 24,
      });
    });

    it('returns the resized image even when it is larger than the input', async () => {
      const result = await transformer.transform(fixtures.tinyJpeg, { resize: 0.9 });

      expect(result).toMatchObject({ keptOriginal: false, width: 58, height: 58 });
      expect(result.bytesOut).toBeGreaterThan(result.bytesIn);
    });

    it.each([0, -0.5, 1.5, Number.NaN])('refuses the factor %p', async (resize) => {
      await expect(transformer.transform(fixtures.tinyJpeg, { resize })).rejects.toThrow(RangeError);
    });
  });

  describe('never larger than the input', () => {
    it('returns the original bytes when re-encoding does not shrink them', async () => {
      const result = await transformer.transform(fixtures.tinyJpeg, { resize: null });

      expect(result).toMatchObject({ keptOriginal: true, format: 'jpeg', width: 64, height: 64 });
      expect(result.data.equals(fixtures.tinyJpeg)).toBe(true);
      expect(result.bytesOut).toBe(result.bytesIn);
    });

    it('treats a factor that changes no dimension as no resize', async () => {
      const result = await transformer.transform(fixtures.tinyJpeg, { resize: 0.999 });

      expect(result.keptOriginal).toBe(true);
    });

    it('reports the displayed size of a kept original', async () => {
      // Enough noisy pixels that re-encoding at quality 50 costs more than dropping
      // the EXIF and ICC data saves.
      const small = await noisy(400, 300, [50, 100, 150])
        .jpeg({ quality: 20 })
        .withMetadata({ orientation: 6 })
        .toBuffer();

      expect(await transformer.transform(small, { resize: null })).toMatchObject({
        keptOriginal: true,
        width: 300,
        height: 400,
      });
    });

    it('keeps an animated GIF whole', async () => {
      const result = await transformer.transform(fixtures.gif, { resize: null });

      expect(result).toMatchObject({ width: 64, height: 48 });
      expect((await sharp(result.data, { animated: true }).metadata()).pages).toBe(4);
    });
  });

  describe('JPEG shrink on load (opt-in)', () => {
    let scratchDir: string;
    let shrinking: ImageTransformer;
    let decodingAll: ImageTransformer;

    beforeAll(async () => {
      scratchDir = await mkdtemp(join(tmpdir(), 'pixbatch-scratch-'));
      shrinking = new ImageTransformer({ maxPixels: MAX_PIXELS, scratchDir, jpegShrinkOnLoad: true });
      decodingAll = new ImageTransformer({ maxPixels: MAX_PIXELS });
    });

    afterEach(async () => {
      // Every scratch copy is removed, whatever the outcome.
      expect(await readdir(scratchDir)).toEqual([]);
    });

    afterAll(async () => {
      await rm(scratchDir, { recursive: true, force: true });
    });

    it.each([
      [800, 600, 0.5, 400, 300],
      [801, 601, 0.5, 401, 301],
      [800, 600, 0.25, 200, 150],
      [800, 600, 0.4, 320, 240],
    ])('resizes %dx%d by %p to exactly %dx%d', async (width, height, resize, outWidth, outHeight) => {
      const input = await photo(width, height).jpeg({ quality: 90 }).toBuffer();

      const result = await shrinking.transform(input, { resize });

      expect(result).toMatchObject({ width: outWidth, height: outHeight, keptOriginal: false });
      expect(await sharp(result.data).metadata()).toMatchObject({ width: outWidth, height: outHeight });
    });

    it('gives nearly the picture a full decode gives', async () => {
      const shrunk = await shrinking.transform(fixtures.jpeg, { resize: 0.5 });
      const full = await decodingAll.transform(fixtures.jpeg, { resize: 0.5 });

      // Different bytes: the two really took different decoding paths.
      expect(shrunk.data.equals(full.data)).toBe(false);
      const [a, b] = await Promise.all([shrunk, full].map((result) => sharp(result.data).raw().toBuffer()));
      let squaredError = 0;
      for (let i = 0; i < a.length; i++) squaredError += (a[i] - b[i]) ** 2;
      const psnr = 10 * Math.log10((255 * 255) / (squaredError / a.length));
      expect(psnr).toBeGreaterThan(28);
    });

    it('applies EXIF orientation to a JPEG shrunk on load', async () => {
      const result = await shrinking.transform(fixtures.rotated, { resize: 0.5 });

      expect(result).toMatchObject({ width: 100, height: 150 });
      const top = await meanColour(result.data, { top: 0, height: 50 });
      expect(top.r).toBeGreaterThan(top.b + 50);
    });

    it('still refuses a truncated JPEG as a decode error', async () => {
      const error: unknown = await shrinking
        .transform(truncated(fixtures.jpeg), { resize: 0.5 })
        .catch((e: unknown) => e);

      expect(error).toMatchObject({ code: ImageErrorCode.DecodeError, retryable: false });
    });

    it('is off by default: a JPEG resized by half comes out as from a plain sharp script, with no scratch file', async () => {
      // A scratch directory that does not exist: the opt-in fails writing its copy there.
      const missing = join(scratchDir, 'missing');
      const input = await photo(800, 600).jpeg({ quality: 90 }).toBuffer();
      const plain = await sharp(input)
        .resize({ width: 400, height: 300, fit: 'fill' })
        .jpeg({ quality: 50 })
        .toBuffer();

      const result = await new ImageTransformer({ maxPixels: MAX_PIXELS, scratchDir: missing }).transform(input, {
        resize: 0.5,
      });

      expect(result.data.equals(plain)).toBe(true);
      const optIn = new ImageTransformer({ maxPixels: MAX_PIXELS, scratchDir: missing, jpegShrinkOnLoad: true });
      await expect(optIn.transform(input, { resize: 0.5 })).rejects.toBeInstanceOf(ImageJobError);
    });

    it('refuses a scratch directory that libvips would read load options from', () => {
      expect(() => new ImageTransformer({ maxPixels: MAX_PIXELS, scratchDir: '/tmp/[x]' })).toThrow(RangeError);
    });
  });

  describe('writing to a file', () => {
    let dir: string;

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'pixbatch-transform-'));
    });

    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it.each<ImageFormat>(['jpeg', 'png', 'webp', 'gif'])(
      'writes the same %s bytes that transform returns, in the same format whatever the file name',
      async (format) => {
        // The name has no image extension: the format must come from the input, not the path.
        const path = join(dir, `${format}.tmp`);
        const { data, ...expected } = await transformer.transform(fixtures[format], { resize: 0.5 });

        const info = await transformer.transformToFile(fixtures[format], { resize: 0.5 }, path);

        expect(info).toEqual(expected);
        const written = await readFile(path);
        expect(sniffImageFormat(written)).toBe(format);
        expect(written.length).toBe(info.bytesOut);
        expect(written.equals(data)).toBe(true);
      },
    );

    it('writes the original bytes when re-encoding does not shrink them', async () => {
      const path = join(dir, 'kept.jpg');

      const info = await transformer.transformToFile(fixtures.tinyJpeg, { resize: null }, path);

      expect(info).toMatchObject({ keptOriginal: true, bytesOut: fixtures.tinyJpeg.length });
      expect((await readFile(path)).equals(fixtures.tinyJpeg)).toBe(true);
    });

    it('fails like transform and writes nothing for bytes that are not an image', async () => {
      const path = join(dir, 'not-an-image.jpg');

      await expect(
        transformer.transformToFile(Buffer.from('<html></html>'), { resize: null }, path),
      ).rejects.toMatchObject({ code: ImageErrorCode.NotAnImage });
      await expect(readFile(path)).rejects.toMatchObject({ code: 'ENOENT' });
    });

    it('names the format of bytes before anything is decoded', () => {
      expect(transformer.identify(fixtures.png)).toBe('png');
      expect(() => transformer.identify(Buffer.from('hello'))).toThrow(ImageJobError);
    });
  });

  describe('failures', () => {
    it('refuses a truncated JPEG as a decode error', async () => {
      const error = await expectFailure(truncated(fixtures.jpeg), ImageErrorCode.DecodeError);
      // The cause (for the logs) says what was found: libvips' "premature end" before
      // truncation.ts caught a missing end marker first; the client reads plain words.
      expect((error.cause as Error).message).toMatch(/truncated: no end marker/i);
      expect(error.message).toMatch(/JPEG file is incomplete/);
    });

    it.each(['png', 'webp', 'avif', 'stillGif', 'gif'] as const)(
      'refuses a truncated %s as a decode error',
      async (name) => {
        const error = await expectFailure(truncated(fixtures[name]), ImageErrorCode.DecodeError);
        expect(error.message).toMatch(/file is (incomplete|damaged)/);
      },
    );

    it('refuses a PNG with a bad chunk CRC as a decode error', async () => {
      const png = Buffer.from(fixtures.png);
      const idat = png.indexOf('IDAT');
      png[idat + 4 + png.readUInt32BE(idat - 4)] ^= 0xff;

      const error = await expectFailure(png, ImageErrorCode.DecodeError);
      expect(error.message).toMatch(/^The PNG file is damaged: a checksum/);
      expect(error.message).not.toMatch(/\/|tmp|libpng|vips/i);
    });

    it('says the same, with no path, when libvips writes the output to a file', async () => {
      const png = Buffer.from(fixtures.png);
      const idat = png.indexOf('IDAT');
      png[idat + 4 + png.readUInt32BE(idat - 4)] ^= 0xff;
      const dir = await mkdtemp(join(tmpdir(), 'pixbatch-crc-'));
      try {
        const error = await transformer
          .transformToFile(png, { resize: null }, join(dir, 'out.png'))
          .catch((e: unknown) => e);
        expect(error).toMatchObject({ code: ImageErrorCode.DecodeError, retryable: false });
        expect((error as Error).message).not.toContain(dir);
        expect((error as Error).message).not.toMatch(/\/|tmp|libpng|vips|write/i);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('refuses a small PNG declaring 20000x20000 before decoding it', async () => {
      const bomb = await pngDeclaring(20_000, 20_000);
      const started = performance.now();

      const error = await expectFailure(bomb, ImageErrorCode.TooManyPixels);

      expect(performance.now() - started).toBeLessThan(500);
      expect(bomb.length).toBeLessThan(100);
      expect(error.message).toContain('20000x20000');
    });

    it('counts the pixels of every frame', async () => {
      const limited = new ImageTransformer({ maxPixels: 64 * 48 * 3 });

      const error = await expectFailure(fixtures.gif, ImageErrorCode.TooManyPixels, limited);
      expect(error.message).toContain('4 frames');
    });

    it(`refuses animations over ${MAX_FRAMES} frames`, async () => {
      const long = await animatedGif(MAX_FRAMES + 1, 4, 4);

      await expectFailure(long, ImageErrorCode.TooManyFrames);
    });

    it('takes a lower frame limit from its options', async () => {
      const limited = new ImageTransformer({ maxPixels: MAX_PIXELS, maxFrames: 3 });

      const error = await expectFailure(fixtures.gif, ImageErrorCode.TooManyFrames, limited);
      expect(error.message).toContain('limit of 3');
    });

    it.each<[string, () => Promise<Buffer>]>([
      ['SVG', () => Promise.resolve(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>'))],
      ['TIFF', () => photo(32, 32).tiff().toBuffer()],
    ])('refuses %s as an unsupported format', async (_name, make) => {
      await expectFailure(await make(), ImageErrorCode.UnsupportedFormat);
    });

    it('refuses an HTML page as not an image', async () => {
      const html = Buffer.from('<!DOCTYPE html><html><body><img src="photo.jpg"></body></html>');

      await expectFailure(html, ImageErrorCode.NotAnImage);
    });

    it('refuses a JPEG signature followed by garbage as a decode error', async () => {
      const garbage = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(64, 0x41)]);

      await expectFailure(garbage, ImageErrorCode.DecodeError);
    });
  });

  it.each([
    [{ maxPixels: 0 }],
    [{ maxPixels: 1.5 }],
    [{ maxPixels: 1000, timeoutSeconds: 0 }],
    [{ maxPixels: 1000, timeoutSeconds: 0.5 }],
  ])('rejects the options %p', (options) => {
    expect(() => new ImageTransformer(options)).toThrow(RangeError);
  });
});
