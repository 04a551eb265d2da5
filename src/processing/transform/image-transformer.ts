import { randomUUID } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Inject, Injectable } from '@nestjs/common';
import sharp, { type FailOnOptions, type Metadata, type OutputInfo, type Sharp } from 'sharp';
import type { AppConfig } from '../../config/app-config.js';
import { ImageErrorCode, ImageJobError } from '../image-error.js';
import { type ImageFormat, sniffImageFormat } from './image-format.js';

export interface ImageTransformerOptions {
  /** Largest decoded size accepted, summed over all frames of an animation. */
  maxPixels: number;
  /**
   * libvips abandons an image after this many seconds (integer, 1-3600); unset means
   * no limit. It bounds decoding and pixel work, not PNG palette quantisation,
   * which runs after them (measured: 2.2 s for 2500x2500 under a 1 s timeout).
   */
  timeoutSeconds?: number;
  /** Longer animations are refused: every frame is decoded into memory at once. Default MAX_FRAMES. */
  maxFrames?: number;
  /**
   * Shrink JPEGs by 2, 4 or 8 while decoding (libjpeg's DCT scaling) when a
   * resize reduces them at least that much, instead of decoding every pixel.
   * Default true. See shrinkOnLoadFactor for the measured trade-off.
   */
  jpegShrinkOnLoad?: boolean;
  /** Where a JPEG shrunk on load is written for libvips to read it from. Default os.tmpdir(). */
  scratchDir?: string;
}

/** The options the worker runs with; the bench builds its bare loop from them too. */
export function imageTransformerOptions(config: AppConfig): ImageTransformerOptions {
  return {
    maxPixels: config.limits.imagePixels,
    maxFrames: config.limits.imageFrames,
    timeoutSeconds: config.limits.imageTimeoutSeconds,
    jpegShrinkOnLoad: config.jpegShrinkOnLoad,
  };
}

/** Provider token for the options, for wiring ImageTransformer as a plain class provider. */
export const IMAGE_TRANSFORMER_OPTIONS = Symbol('IMAGE_TRANSFORMER_OPTIONS');

export interface TransformOptions {
  /** Scale factor, 0 < f <= 1, applied to both sides; null keeps the dimensions. */
  resize: number | null;
}

export interface TransformResult extends TransformInfo {
  data: Buffer;
}

/** What was written, for transformToFile. */
export interface TransformInfo {
  format: ImageFormat;
  /** Dimensions of `data` as displayed (after EXIF orientation); one frame's for animations. */
  width: number;
  height: number;
  bytesIn: number;
  bytesOut: number;
  /** True when the output is the input itself because re-encoding did not make it smaller. */
  keptOriginal: boolean;
}

const QUALITY = 50;

export const MAX_FRAMES = 200;

// 'error' fails truncated JPEG, PNG, WebP, AVIF and still GIF data, and PNG CRC
// errors ('truncated' lets bad CRCs through). sharp's default 'warning' also refuses
// files that libjpeg merely warns about and that browsers display. libvips decodes
// a truncated GIF animation up to its last complete frame at every level.
const FAIL_ON: FailOnOptions = 'error';

// sharp names AVIF's loader after its HEIF container.
const LOADER: Record<ImageFormat, string> = { jpeg: 'jpeg', png: 'png', gif: 'gif', webp: 'webp', avif: 'heif' };

// libvips reports decoder failures in the loaders' own words; anything else that
// goes wrong in a pipeline (an encoder, the timeout) is a processing error.
const DECODE_FAILURE = new RegExp(
  [
    'VipsJpeg',
    'jpegload',
    'libpng read error',
    'pngload',
    'gifload',
    'webpload',
    'webp: unable to parse',
    'heifload',
    'heif: Invalid input',
    'corrupt header',
    'premature end',
  ].join('|'),
  'i',
);
const TIMED_OUT = /^timeout:/;
// libvips keeps one error buffer for the whole process, and a pipeline starting
// on another thread can clear it between a failure and sharp reading it: sharp
// then reports "Unknown error" (seen for a truncated JPEG next to other failing
// images, about one run in four of the hostile-input e2e test).
const UNKNOWN_ERROR = /^(Unknown error)?\s*$/;

/*
 * Encoder settings, measured with sharp 0.35.5 / libvips 8.18 on 2 cores
 * (per 1200x1200 image, one at a time):
 * - JPEG: mozjpeg would save 28-41 % more bytes at 2-4.5x the time (TOOLCHAIN.md).
 * - PNG: lossless compressionLevel 9 kept a photo at 99 % of its input (and made an
 *   adaptively filtered one 2.7x larger); palette quantisation at effort 1 gives
 *   16-36 % in 0.53-0.56 s (about 1.9 images/s; effort 3 is 10-15 % slower for no
 *   gain, the default effort 7 takes 6.7 s), and 21 % for a flat logo with alpha.
 *   Without dithering and at zlib level 6 instead of 9 (bench/, 1200x1200 photo-like
 *   PNGs): 36 % less CPU (300 against 467 ms), 14 % instead of 18 % of the input
 *   bytes, and 1.7 dB better PSNR, since dither noise is what deflate compresses
 *   worst. Quantisation itself stays about 250 ms per 1.4 megapixels, 13x a whole
 *   JPEG decode and encode of the same size: libimagequant's fastest setting.
 * - WebP: effort 0 takes 42 % of the default effort 4's CPU (79 against 186 ms for
 *   1200x1200) for 11 % more bytes at the same PSNR (within 0.3 dB).
 * - AVIF: effort 1 gives the same bytes and PSNR as efforts 2-3 in 150-370 ms
 *   against 280-1100 ms; the default effort 4 is 5-12x slower for at most 16 % fewer bytes.
 * - GIF: sharp re-uses the input palette; lower efforts, fewer colours and lossy
 *   inter-frame options made our test animations larger, so its defaults stay.
 */
const ENCODERS: Record<ImageFormat, (image: Sharp) => Sharp> = {
  jpeg: (image) => image.jpeg({ quality: QUALITY, mozjpeg: false, progressive: false }),
  png: (image) => image.png({ palette: true, quality: QUALITY, effort: 1, dither: 0, compressionLevel: 6 }),
  webp: (image) => image.webp({ quality: QUALITY, effort: 0 }),
  avif: (image) => image.avif({ quality: QUALITY, effort: 1 }),
  gif: (image) => image.gif(),
};

interface Size {
  width: number;
  height: number;
}

interface Source extends Size {
  frames: number;
}

let concurrencyConfigured = false;

/**
 * The one place sharp is used: turns downloaded bytes into a compressed image
 * of the same format, or says why it cannot (an ImageJobError, always permanent:
 * the same bytes would fail the same way again).
 */
@Injectable()
export class ImageTransformer {
  private readonly scratchDir: string;

  constructor(@Inject(IMAGE_TRANSFORMER_OPTIONS) private readonly options: ImageTransformerOptions) {
    if (!Number.isInteger(options.maxPixels) || options.maxPixels < 1) {
      throw new RangeError(`maxPixels must be a positive integer, got ${options.maxPixels}`);
    }
    const { timeoutSeconds } = options;
    if (
      timeoutSeconds !== undefined &&
      !(Number.isInteger(timeoutSeconds) && timeoutSeconds >= 1 && timeoutSeconds <= 3600)
    ) {
      throw new RangeError(`timeoutSeconds must be an integer from 1 to 3600, got ${timeoutSeconds}`);
    }
    this.scratchDir = options.scratchDir ?? tmpdir();
    if (/[[\]]/.test(this.scratchDir)) {
      // libvips would read the brackets as the start of load options.
      throw new RangeError(`scratchDir must not contain square brackets, got ${this.scratchDir}`);
    }
    if (!concurrencyConfigured) {
      // Parallelism comes from several images in flight, not threads per image: on
      // 2 cores more libvips threads per image were 5-15 % slower (TOOLCHAIN.md).
      // glibc builds already default to 1, musl and macOS builds to the core count.
      sharp.concurrency(1);
      concurrencyConfigured = true;
    }
  }

  /** The format the input's bytes declare; throws the error transform would for anything else. */
  identify(input: Buffer): ImageFormat {
    return identify(input);
  }

  async transform(input: Buffer, options: TransformOptions): Promise<TransformResult> {
    const plan = await this.plan(input, options);
    const { data, info } = await this.encode(input, plan, (image) => image.toBuffer({ resolveWithObject: true }));
    if (keepsOriginal(plan, input, data.length)) return { data: input, ...original(plan, input) };
    return { data, ...encoded(plan, input, info) };
  }

  /**
   * transform, with libvips writing the output to `path` itself: the encoded
   * image never becomes a JavaScript Buffer. Each Buffer is external memory to
   * V8, and in a worker at dozens of images a second their churn is what
   * triggered most of its full garbage collections (bench/README.md).
   */
  async transformToFile(input: Buffer, options: TransformOptions, path: string): Promise<TransformInfo> {
    const plan = await this.plan(input, options);
    const info = await this.encode(input, plan, (image) => image.toFile(path));
    if (!keepsOriginal(plan, input, info.size)) return encoded(plan, input, info);
    await writeFile(path, input);
    return original(plan, input);
  }

  private async plan(input: Buffer, options: TransformOptions): Promise<Plan> {
    const format = identify(input);
    const animated = format === 'gif' || format === 'webp';
    const source = await this.inspect(input, format, animated);
    const target = scaled(source, options.resize);
    // A factor too close to 1 to change a dimension is treated as no resize.
    const resizing = target.width !== source.width || target.height !== source.height;
    const shrinkOnLoad =
      resizing && format === 'jpeg' && this.options.jpegShrinkOnLoad !== false ? shrinkOnLoadFactor(source, target) : 1;
    return { format, source, target: resizing ? target : null, shrinkOnLoad };
  }

  /**
   * Reads the header only, so a small file declaring a huge image is refused
   * before anything is allocated for its pixels. Returns the displayed size of
   * one frame.
   */
  private async inspect(input: Buffer, format: ImageFormat, animated: boolean): Promise<Source> {
    let metadata: Metadata;
    try {
      // No pixel limit here: the count is checked below, frames included, with the
      // dimensions in the message.
      metadata = await sharp(input, { failOn: FAIL_ON, animated, limitInputPixels: false }).metadata();
    } catch (error) {
      throw permanent(ImageErrorCode.DecodeError, `Unreadable ${format} header: ${describe(error)}`, error);
    }
    // The sniffed format decides the loader; an AVIF signature around HEVC data is HEIC.
    if (metadata.format !== LOADER[format] || (format === 'avif' && metadata.compression !== 'av1')) {
      const actual = metadata.compression ? `${metadata.format}/${metadata.compression}` : metadata.format;
      throw permanent(ImageErrorCode.UnsupportedFormat, `Content is ${actual}, not the ${format} its signature claims`);
    }

    const frames = animated ? (metadata.pages ?? 1) : 1;
    const frameHeight = animated ? (metadata.pageHeight ?? metadata.height) : metadata.height;
    const maxFrames = this.options.maxFrames ?? MAX_FRAMES;
    if (frames > maxFrames) {
      throw permanent(ImageErrorCode.TooManyFrames, `${frames} frames exceed the limit of ${maxFrames}`);
    }
    const pixels = metadata.width * frameHeight * frames;
    if (pixels > this.options.maxPixels) {
      const size = `${metadata.width}x${frameHeight}${frames > 1 ? ` x ${frames} frames` : ''}`;
      throw permanent(
        ImageErrorCode.TooManyPixels,
        `${size} = ${pixels} pixels exceed the limit of ${this.options.maxPixels}`,
      );
    }
    // libvips cannot rotate a multi-frame image ("Rotate is not supported for
    // multi-page images"), so an animation keeps its stored orientation.
    return frames > 1 ? { width: metadata.width, height: frameHeight, frames } : { ...metadata.autoOrient, frames };
  }

  /**
   * Decodes the input alone and returns the decoder's complaint, or null when
   * it decodes. For failures whose message libvips lost (see UNKNOWN_ERROR).
   */
  private async decodeFailure(input: Buffer, animated: boolean): Promise<string | null> {
    try {
      await sharp(input, { failOn: FAIL_ON, animated, limitInputPixels: this.options.maxPixels }).raw().toBuffer();
      return null;
    } catch (error) {
      return describe(error);
    }
  }

  private async encode<T>(input: Buffer, plan: Plan, write: (image: Sharp) => Promise<T>): Promise<T> {
    const { format, source, target: size } = plan;
    const animated = source.frames > 1;
    // sharp offers libjpeg's shrink only through libvips' "file[options]" syntax.
    const scratch = plan.shrinkOnLoad > 1 ? join(this.scratchDir, `pixbatch-${randomUUID()}.jpg`) : null;
    if (scratch) await writeFile(scratch, input);
    // Without keep*/with* calls sharp writes no EXIF, XMP, IPTC or ICC data; colour
    // is converted to sRGB (CMYK through its profile or libvips' default one) first.
    const image = sharp(scratch ? `${scratch}[shrink=${plan.shrinkOnLoad}]` : input, {
      failOn: FAIL_ON,
      animated,
      limitInputPixels: this.options.maxPixels,
    });
    if (!animated) image.autoOrient();
    image.toColourspace('srgb');
    if (this.options.timeoutSeconds !== undefined) image.timeout({ seconds: this.options.timeoutSeconds });
    // fit 'fill' with both sides computed from the factor; for animations the height is per frame.
    if (size) image.resize({ width: size.width, height: size.height, fit: 'fill' });
    try {
      return await write(ENCODERS[format](image));
    } catch (error) {
      const full = error instanceof Error ? error.message : String(error);
      const text = describe(error);
      if (TIMED_OUT.test(full)) {
        throw permanent(
          ImageErrorCode.ProcessingError,
          `Processing took longer than ${this.options.timeoutSeconds} s (${text})`,
          error,
        );
      }
      if (DECODE_FAILURE.test(full)) {
        throw permanent(ImageErrorCode.DecodeError, `Corrupt ${format} data: ${text}`, error);
      }
      if (UNKNOWN_ERROR.test(full)) {
        const reason = await this.decodeFailure(input, animated);
        if (reason !== null) {
          throw permanent(ImageErrorCode.DecodeError, `Corrupt ${format} data: ${reason}`, error);
        }
        // Decoding alone works, so what failed is not the data: worth another attempt.
        throw new ImageJobError(ImageErrorCode.ProcessingError, `Could not process the ${format} image: ${text}`, true, {
          cause: error,
        });
      }
      throw permanent(ImageErrorCode.ProcessingError, `Could not process the ${format} image: ${text}`, error);
    } finally {
      if (scratch) await rm(scratch, { force: true });
    }
  }
}

interface Plan {
  format: ImageFormat;
  source: Source;
  /** Null: no resize. */
  target: Size | null;
  /** 1, or the 2, 4 or 8 a JPEG is shrunk by while decoding. */
  shrinkOnLoad: number;
}

/**
 * The largest of 8, 4 and 2 that the resize reduces both sides by at least
 * (Lanczos does the rest), or 1. sharp shrinks on load by itself only when a
 * factor of at least 1.5 is left for Lanczos, so an exact 50 % resize decoded
 * every pixel. Measured for 2000x1500 JPEGs at 50 % (bench/, 2 cores): 25 instead
 * of 46 ms of CPU per image; against a full-decode Lanczos reference, PSNR 38.5
 * instead of 39.3 dB at 2 % fewer bytes for a product-shot-like image (flat
 * background, hard edges, text), but 29.7 instead of 35.0 dB at 44 % more bytes
 * for the bench's noise-textured photos: the DCT keeps the fine texture that
 * Lanczos smooths away, and that texture costs bytes. JPEG_SHRINK_ON_LOAD=false
 * turns it off.
 */
function shrinkOnLoadFactor(source: Size, target: Size): number {
  const reduction = Math.min(source.width / target.width, source.height / target.height);
  // A rounded target side can be a pixel more than the exact half.
  const slack = 1.001;
  return [8, 4, 2].find((factor) => reduction * slack >= factor) ?? 1;
}

/**
 * Never hand back more bytes than we were given: when re-encoding at the same
 * size does not shrink the file (already well compressed, or tiny), the input
 * is the output. A resize is always honoured, since the caller asked for those
 * dimensions. The kept original also keeps its metadata and colour profile;
 * browsers apply its EXIF orientation, hence the oriented size.
 */
function keepsOriginal(plan: Plan, input: Buffer, encodedBytes: number): boolean {
  return plan.target === null && encodedBytes >= input.length;
}

function original(plan: Plan, input: Buffer): TransformInfo {
  const { format, source } = plan;
  return {
    format,
    width: source.width,
    height: source.height,
    bytesIn: input.length,
    bytesOut: input.length,
    keptOriginal: true,
  };
}

function encoded(plan: Plan, input: Buffer, info: OutputInfo): TransformInfo {
  return {
    format: plan.format,
    width: info.width,
    height: info.pageHeight ?? info.height,
    bytesIn: input.length,
    bytesOut: info.size,
    keptOriginal: false,
  };
}

function identify(input: Buffer): ImageFormat {
  const format = sniffImageFormat(input);
  if (format === null) throw permanent(ImageErrorCode.NotAnImage, 'The content is not an image');
  if (format === 'unsupported-image') {
    throw permanent(ImageErrorCode.UnsupportedFormat, 'Only JPEG, PNG, GIF, WebP and AVIF images are processed');
  }
  return format;
}

/** Each side is rounded on its own and kept at least 1 pixel. */
function scaled(size: Size, factor: number | null): Size {
  if (factor === null) return size;
  if (!(factor > 0 && factor <= 1)) throw new RangeError(`resize must be in (0, 1], got ${factor}`);
  return {
    width: Math.max(1, Math.round(size.width * factor)),
    height: Math.max(1, Math.round(size.height * factor)),
  };
}

function permanent(code: ImageErrorCode, message: string, cause?: unknown): ImageJobError {
  return new ImageJobError(code, message, false, cause === undefined ? undefined : { cause });
}

/**
 * libvips messages can run to dozens of lines (a truncated AVIF logs every failed
 * seek); the decoder's own line, else the first, is enough for a stored error.
 */
function describe(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  const lines = text.split('\n').map((line) => line.trim()).filter((line) => line !== '');
  return lines.find((line) => DECODE_FAILURE.test(line)) ?? lines[0] ?? text;
}
