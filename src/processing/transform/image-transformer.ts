import { randomUUID } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Inject, Injectable } from '@nestjs/common';
import sharp, { type FailOnOptions, type Metadata, type OutputInfo, type Sharp } from 'sharp';
import type { AppConfig } from '../../config/app-config.js';
import { DEFAULT_QUALITY, type OutputFormat } from '../../requests/processing-options.js';
import { ImageErrorCode, ImageJobError } from '../image-error.js';
import { type ImageFormat, sniffImageFormat } from './image-format.js';
import { stripMetadata } from './strip-metadata.js';
import { endsWhereItShould } from './truncation.js';
import { decodeError, processingError, timeoutError, truncatedError } from './transform-failure.js';

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
  /**
   * Bounds the displayed size fits inside, aspect kept and never enlarged;
   * either or both, never together with `resize`. Null or absent: no bound.
   */
  maxWidth?: number | null;
  maxHeight?: number | null;
  /** Encoder quality 1-100; absent: DEFAULT_QUALITY. GIF output has no quality setting. */
  quality?: number;
  /** Absent: 'keep'. */
  format?: OutputFormat;
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
 * - WebP and AVIF: sharp's default effort (4), the one a plain sharp script uses.
 *   Measured against it (bench/ formats section; 800x800 photos, quality 50, on a
 *   loaded 2-core machine): WebP effort 0 made 13 % more bytes at lower SSIM (0.949
 *   against 0.952), effort 3 the same bytes (+0.0 %) at 0.0002 lower SSIM for 17 %
 *   less time; AVIF effort 1 made 21 % more bytes, effort 3 up to 5.6 % more per
 *   file at lower SSIM, for a quarter of effort 4's time. Bytes per file within
 *   5 % of plain sharp at equal SSIM decided it: effort 4 for both.
 * - GIF: without dithering, and letting a pixel keep the previous frame's value or
 *   palette within a small error (interFrameMaxError 4, interPaletteMaxError 16).
 *   With 8 instead of 16, a flat-colour 480x320 animation of 12 frames resized by
 *   half came to 28.2 KB at SSIM 0.998, against plain sharp's 40.7 KB and
 *   ImageMagick's -layers optimize 30.6 KB at 0.994 (unresized 34.1 KB against
 *   43.2 KB and 36.0 KB), but the real-image suite's 400x300 animation stayed
 *   0.2 % above ImageMagick; 16 brings it under.
 */
const ENCODERS: Record<ImageFormat, (image: Sharp, quality: number) => Sharp> = {
  jpeg: (image, quality) => image.jpeg({ quality, mozjpeg: false, progressive: false }),
  png: (image, quality) => image.png({ palette: true, quality, effort: 1, dither: 0, compressionLevel: 6 }),
  webp: (image, quality) => image.webp({ quality, effort: 4 }),
  avif: (image, quality) => image.avif({ quality, effort: 4 }),
  gif: (image) => image.gif({ dither: 0, interFrameMaxError: 4, interPaletteMaxError: 16 }),
};

/**
 * libvips writes a palette PNG as RGB; a grey picture is written as 8-bit grey,
 * losslessly (a 16-bit one at half its bytes).
 */
const greyPng = (image: Sharp): Sharp => image.png({ palette: false, compressionLevel: 9, adaptiveFiltering: true });

/**
 * Up to this many pixels a PNG is quantised at sharp's default effort and zlib
 * level 9: for icons and PngSuite-sized files the fast settings made outputs up
 * to 20 % larger than a plain sharp script's, and the time is a few milliseconds.
 */
const SMALL_PNG_PIXELS = 250_000;
const smallPng = (image: Sharp, quality: number): Sharp => image.png({ palette: true, quality, compressionLevel: 9 });

function encoderFor(format: ImageFormat, colour: Colour, output: Size): (image: Sharp, quality: number) => Sharp {
  if (format !== 'png') return ENCODERS[format];
  if (colour === 'grey') return greyPng;
  return output.width * output.height <= SMALL_PNG_PIXELS ? smallPng : ENCODERS.png;
}

/** The formats whose encoders write every frame of an animation; the others get its first frame. */
const ANIMATED_OUTPUT = new Set<ImageFormat>(['gif', 'webp']);
/** Where a grey picture can stay one channel; WebP and AVIF store colour anyway. */
const GREY_OUTPUT = new Set<ImageFormat>(['jpeg', 'png']);

interface Size {
  width: number;
  height: number;
}

/**
 * How the decoded pixels become sRGB: 'grey' stays one channel (JPEG and PNG);
 * 'untagged-cmyk' is converted the way browsers show a CMYK JPEG without a
 * profile; 'rgb' goes through libvips' colour management (any embedded profile)
 * and 'deep' (16-bit, or CMYK with a profile) through an sRGB pipeline.
 */
type Colour = 'grey' | 'untagged-cmyk' | 'rgb' | 'deep';

interface Source extends Size {
  frames: number;
  colour: Colour;
  hasAlpha: boolean;
  /** EXIF orientation, 1 when absent. */
  orientation: number;
  /** EXIF, XMP or IPTC present. */
  hasMetadata: boolean;
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

  /** The format transform writes for this input, which names the stored file's extension. */
  outputFormat(input: Buffer, options: Pick<TransformOptions, 'format'>): ImageFormat {
    const format = identify(input);
    return !options.format || options.format === 'keep' ? format : options.format;
  }

  async transform(input: Buffer, options: TransformOptions): Promise<TransformResult> {
    const plan = await this.plan(input, options);
    const { data, info } = await this.encode(input, plan, (image) => image.toBuffer({ resolveWithObject: true }));
    const kept = keptOriginal(plan, input, data.length);
    if (kept) return { data: kept, ...original(plan, input, kept) };
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
    const kept = keptOriginal(plan, input, info.size);
    if (!kept) return encoded(plan, input, info);
    await writeFile(path, kept);
    return original(plan, input, kept);
  }

  private async plan(input: Buffer, options: TransformOptions): Promise<Plan> {
    const format = identify(input);
    const output = this.outputFormat(input, options);
    const quality = options.quality ?? DEFAULT_QUALITY;
    if (!(Number.isInteger(quality) && quality >= 1 && quality <= 100)) {
      throw new RangeError(`quality must be an integer from 1 to 100, got ${quality}`);
    }
    const bounded = (options.maxWidth ?? null) !== null || (options.maxHeight ?? null) !== null;
    if (bounded && options.resize !== null)
      throw new RangeError('resize cannot be combined with maxWidth or maxHeight');
    // An animation read into a format that has none would come out as its frames stacked into one tall picture.
    const animated = (format === 'gif' || format === 'webp') && ANIMATED_OUTPUT.has(output);
    const source = await this.inspect(input, format, animated);
    const target = bounded
      ? fittedInside(source, options.maxWidth ?? null, options.maxHeight ?? null)
      : scaled(source, options.resize);
    // A factor too close to 1 to change a dimension is treated as no resize.
    const resizing = target.width !== source.width || target.height !== source.height;
    const shrinkOnLoad =
      resizing && format === 'jpeg' && this.options.jpegShrinkOnLoad !== false ? shrinkOnLoadFactor(source, target) : 1;
    return {
      format,
      output,
      quality,
      keepAllowed: !options.format || options.format === 'keep',
      source,
      target: resizing ? target : null,
      shrinkOnLoad,
    };
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
      throw decodeError(format, describe(error), error);
    }
    // The sniffed format decides the loader; an AVIF signature around HEVC data is HEIC.
    if (metadata.format !== LOADER[format] || (format === 'avif' && metadata.compression !== 'av1')) {
      const actual = metadata.compression ? `${metadata.format}/${metadata.compression}` : metadata.format;
      throw permanent(ImageErrorCode.UnsupportedFormat, `Content is ${actual}, not the ${format} its signature claims`);
    }

    if (!endsWhereItShould(format, input)) throw truncatedError(format);

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
    const details = {
      frames,
      colour: colourOf(metadata),
      hasAlpha: metadata.hasAlpha,
      orientation: metadata.orientation ?? 1,
      hasMetadata: Boolean(metadata.exif ?? metadata.xmp ?? metadata.iptc),
    };
    return frames > 1
      ? { width: metadata.width, height: frameHeight, ...details }
      : { ...metadata.autoOrient, ...details };
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
    const { format, output, source, target: size } = plan;
    const animated = source.frames > 1;
    // sharp offers libjpeg's shrink only through libvips' "file[options]" syntax.
    const scratch = plan.shrinkOnLoad > 1 ? join(this.scratchDir, `pixbatch-${randomUUID()}.jpg`) : null;
    try {
      if (scratch) await writeFile(scratch, input);
      const loaded = scratch ? `${scratch}[shrink=${plan.shrinkOnLoad}]` : input;
      const image = source.colour === 'untagged-cmyk' ? await this.untaggedCmyk(loaded) : this.load(loaded, animated);
      // Without keep*/with* calls sharp writes no EXIF, XMP, IPTC or ICC data.
      if (!animated) image.autoOrient();
      if (source.colour === 'grey' && GREY_OUTPUT.has(output)) {
        image.toColourspace('b-w');
      } else if (source.colour === 'deep') {
        // sharp's default pipeline keeps a 16-bit input in 'rgb16' and then applies
        // its embedded profile wrongly (Adobe RGB came out at mean dE2000 2.3, CMYK
        // with a profile at 5.4, against LittleCMS); an 'srgb' pipeline converts
        // from the profile first (0.0 and 0.3, test/integration/real-images.spec.ts).
        // Not for everything: it made 8-bit WebP outputs 8 % larger at lower SSIM.
        image.pipelineColourspace('srgb').toColourspace('srgb');
      } else {
        image.toColourspace('srgb');
      }
      if (this.options.timeoutSeconds !== undefined) image.timeout({ seconds: this.options.timeoutSeconds });
      // fit 'fill' with both sides computed from the factor; for animations the height is per frame.
      if (size) image.resize({ width: size.width, height: size.height, fit: 'fill' });
      // JPEG has no alpha: transparent areas become white, as on a web page, not libvips' black.
      if (output === 'jpeg' && source.hasAlpha) image.flatten({ background: '#ffffff' });
      const colour = GREY_OUTPUT.has(output) ? source.colour : 'rgb';
      return await write(encoderFor(output, colour, size ?? source)(image, plan.quality));
    } catch (error) {
      throw await this.failure(input, format, animated, error);
    } finally {
      if (scratch) await rm(scratch, { force: true });
    }
  }

  private load(loaded: Buffer | string, animated: boolean): Sharp {
    return sharp(loaded, { failOn: FAIL_ON, animated, limitInputPixels: this.options.maxPixels });
  }

  /**
   * Browsers show a CMYK JPEG without a profile as (255-C)(255-K)/255 per
   * channel (Skia; Pillow does the same); libvips would go through a press
   * profile, which came out flatter and lighter (mean dE2000 5.2 against 0.0).
   * Returns the upright sRGB pixels.
   */
  private async untaggedCmyk(loaded: Buffer | string): Promise<Sharp> {
    const image = this.load(loaded, false).autoOrient().pipelineColourspace('cmyk').toColourspace('cmyk');
    if (this.options.timeoutSeconds !== undefined) image.timeout({ seconds: this.options.timeoutSeconds });
    const { data, info } = await image.raw().toBuffer({ resolveWithObject: true });
    const rgb = Buffer.allocUnsafe(info.width * info.height * 3);
    for (let from = 0, to = 0; from < data.length; from += 4, to += 3) {
      const white = 255 - data[from + 3];
      rgb[to] = Math.round(((255 - data[from]) * white) / 255);
      rgb[to + 1] = Math.round(((255 - data[from + 1]) * white) / 255);
      rgb[to + 2] = Math.round(((255 - data[from + 2]) * white) / 255);
    }
    return sharp(rgb, { raw: { width: info.width, height: info.height, channels: 3 } });
  }

  /**
   * Whose fault a failed pipeline was. libvips' text cannot decide it: it may be
   * lost or another image's (one error buffer per process), and bad data can
   * surface as an encoder's "unable to write to target". Decoding the input
   * alone can: if that fails too, the file is corrupt.
   */
  private async failure(input: Buffer, format: ImageFormat, animated: boolean, error: unknown): Promise<ImageJobError> {
    if (error instanceof ImageJobError) return error;
    const text = error instanceof Error ? error.message : String(error);
    if (TIMED_OUT.test(text)) return timeoutError(format, this.options.timeoutSeconds, error);
    const reason = await this.decodeFailure(input, animated);
    if (reason !== null) return decodeError(format, reason, error, input);
    // Decoding alone works, so what failed is not the data: worth another attempt.
    return processingError(format, error, true);
  }
}

interface Plan {
  /** The input's format. */
  format: ImageFormat;
  /** The format written. */
  output: ImageFormat;
  quality: number;
  /** The input may be handed back when re-encoding does not shrink it: only when the format is kept. */
  keepAllowed: boolean;
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
 * size does not shrink the file (already well compressed, or tiny), the input,
 * stripped of personal metadata, is the output. A resize is always honoured,
 * since the caller asked for those dimensions. The kept original keeps its
 * colour profile, which browsers apply, and its orientation (strip-metadata.ts),
 * hence the oriented size. Null: re-encoding wins, or the input cannot be
 * stripped without re-encoding.
 */
function keptOriginal(plan: Plan, input: Buffer, encodedBytes: number): Buffer | null {
  // A requested format is honoured like a resize, even when its file is larger.
  if (plan.target !== null || !plan.keepAllowed) return null;
  return stripMetadata(plan.format, input, plan.source, encodedBytes);
}

function original(plan: Plan, input: Buffer, kept: Buffer): TransformInfo {
  const { format, source } = plan;
  return {
    format,
    width: source.width,
    height: source.height,
    bytesIn: input.length,
    bytesOut: kept.length,
    keptOriginal: true,
  };
}

function colourOf(metadata: Metadata): Colour {
  // Of the formats we read, only JPEG holds CMYK.
  if (metadata.space === 'cmyk' && !metadata.hasProfile) return 'untagged-cmyk';
  // GIF and WebP have no single-channel form; a grey WebP is stored as colour anyway.
  if (
    (metadata.format === 'jpeg' || metadata.format === 'png') &&
    (metadata.space === 'b-w' || metadata.space === 'grey16')
  ) {
    return 'grey';
  }
  return metadata.depth !== 'uchar' || metadata.space === 'cmyk' ? 'deep' : 'rgb';
}

function encoded(plan: Plan, input: Buffer, info: OutputInfo): TransformInfo {
  return {
    format: plan.output,
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

/**
 * The largest size within the bounds with the source's aspect, never larger
 * than the source; the bounding side is exact, the other rounded, at least 1.
 */
function fittedInside(size: Size, maxWidth: number | null, maxHeight: number | null): Size {
  for (const bound of [maxWidth, maxHeight]) {
    if (bound !== null && !(Number.isInteger(bound) && bound >= 1)) {
      throw new RangeError(`maxWidth and maxHeight must be positive integers, got ${bound}`);
    }
  }
  const factor = Math.min(1, (maxWidth ?? Infinity) / size.width, (maxHeight ?? Infinity) / size.height);
  if (factor === 1) return size;
  return {
    width: Math.min(maxWidth ?? Infinity, Math.max(1, Math.round(size.width * factor))),
    height: Math.min(maxHeight ?? Infinity, Math.max(1, Math.round(size.height * factor))),
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
  const lines = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
  return lines.find((line) => DECODE_FAILURE.test(line)) ?? lines[0] ?? text;
}
