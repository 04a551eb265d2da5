import { randomUUID } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Inject, Injectable } from '@nestjs/common';
import sharp, { type FailOnOptions, type Metadata, type OutputInfo, type Sharp } from 'sharp';
import type { AppConfig } from '../../config/app-config.js';
import { DEFAULT_QUALITY, type OutputFormat } from '../../requests/processing-options.js';
import { ImageErrorCode, ImageJobError } from '../image-error.js';
import { type Colour, encoderFor, gifLevels, greyPng } from './encoders.js';
import { fittedInside, scaled, shrinkOnLoadFactor, type Size } from './geometry.js';
import { iccHasTag } from './icc-profile.js';
import { readJpegHeader } from './jpeg-header.js';
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
   * which runs after them (measured at effort 1: 2.2 s for 2500x2500 under a 1 s
   * timeout; PNGs are now quantised at effort 6, 2-3.5x slower, encoders.ts).
   */
  timeoutSeconds?: number;
  /** Longer animations are refused: every frame is decoded into memory at once. Default MAX_FRAMES. */
  maxFrames?: number;
  /**
   * Shrink JPEGs by 2, 4 or 8 while decoding (libjpeg's DCT scaling) when a
   * resize reduces them at least that much, instead of decoding every pixel.
   * Default false: sharp's own pipeline decides, as for a plain sharp script.
   * See shrinkOnLoadFactor for the measured trade-off.
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

/** The formats whose encoders write every frame of an animation; the others get its first frame. */
const ANIMATED_OUTPUT = new Set<ImageFormat>(['gif', 'webp']);
/** Where a grey picture can stay one channel; WebP and AVIF store colour anyway. */
const GREY_OUTPUT = new Set<ImageFormat>(['jpeg', 'png']);

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
      // 2 cores more libvips threads per image were 5-15 % slower (sharp 0.35.5, libvips 8.18).
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
    // Opt-in only: the DCT-scaled decode made more bytes at lower SSIM than plain sharp (shrinkOnLoadFactor).
    const shrinkOnLoad =
      resizing && format === 'jpeg' && this.options.jpegShrinkOnLoad === true ? shrinkOnLoadFactor(source, target) : 1;
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
    const jpeg = format === 'jpeg' ? readJpegHeader(input) : null;
    const source = jpeg ? { ...jpeg, frames: 1, hasAlpha: false } : await this.header(input, format, animated);
    if (!endsWhereItShould(format, input)) throw truncatedError(format);

    // One frame's size as shown: the count is the same as stored.
    const { width, height, frames } = source;
    const maxFrames = this.options.maxFrames ?? MAX_FRAMES;
    if (frames > maxFrames) {
      throw permanent(ImageErrorCode.TooManyFrames, `${frames} frames exceed the limit of ${maxFrames}`);
    }
    const pixels = width * height * frames;
    if (pixels > this.options.maxPixels) {
      const size = `${width}x${height}${frames > 1 ? ` x ${frames} frames` : ''}`;
      throw permanent(
        ImageErrorCode.TooManyPixels,
        `${size} = ${pixels} pixels exceed the limit of ${this.options.maxPixels}`,
      );
    }
    return source;
  }

  /** The header as libvips reads it, for every format and every JPEG that readJpegHeader leaves to it. */
  private async header(input: Buffer, format: ImageFormat, animated: boolean): Promise<Source> {
    let metadata: Metadata;
    try {
      // No pixel limit here: inspect checks the count, frames included, with the
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
    const frames = animated ? (metadata.pages ?? 1) : 1;
    const frameHeight = animated ? (metadata.pageHeight ?? metadata.height) : metadata.height;
    return {
      // libvips cannot rotate a multi-frame image ("Rotate is not supported for
      // multi-page images"), so an animation keeps its stored orientation.
      ...(frames > 1 ? { width: metadata.width, height: frameHeight } : metadata.autoOrient),
      frames,
      colour: colourOf(metadata),
      hasAlpha: metadata.hasAlpha,
      orientation: metadata.orientation ?? 1,
      hasMetadata: Boolean(metadata.exif ?? metadata.xmp ?? metadata.iptc),
    };
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
    // sharp offers libjpeg's shrink only through libvips' "file[options]" syntax. Without
    // it, sharp shrinks on load by itself where a plain sharp script would (fastShrinkOnLoad).
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
        // Nor for a CMYK profile with one table (A2B0, no colorimetric A2B1): the sRGB
        // pipeline's relative import came out 3 levels lighter than LittleCMS through
        // Ghostscript's ps_cmyk.icc, sharp's own conversion 1 level darker (colourOf).
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
      const pipeline = encoderFor(output, colour, size ?? source)(image, plan.quality);
      // A grey PNG's quantised levels, written again as one grey channel (encoders.ts).
      if (output === 'png' && colour === 'grey')
        return await write(greyPng(this.load(await pipeline.toBuffer(), false)));
      if (output === 'gif' && !animated) return await write(await this.stillGif(pipeline));
      return await write(pipeline);
    } catch (error) {
      throw await this.failure(input, format, animated, error);
    } finally {
      if (scratch) await rm(scratch, { force: true });
    }
  }

  /**
   * A still GIF written directly keeps to the input's palette where it can, which
   * suits a GIF of few colours (Go's 32-colour video-001.5bpp.gif at half size:
   * 1 856 B, from quantised levels 4 708 B); a photo or a smooth gradient comes out
   * smaller from the levels gifLevels chooses. Both are encoded, and the smaller
   * one's pipeline is returned to run again for writing (deterministic).
   */
  private async stillGif(direct: Sharp): Promise<Sharp> {
    const levels = await gifLevels(direct.clone()).toBuffer();
    const fromLevels = () => encoderFor('gif', 'rgb', { width: 1, height: 1 })(this.load(levels, false), 0);
    const [directBytes, levelBytes] = await Promise.all([direct.clone().toBuffer(), fromLevels().toBuffer()]);
    return levelBytes.length < directBytes.length ? fromLevels() : direct;
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
  if (metadata.space === 'cmyk') return metadata.icc && !iccHasTag(metadata.icc, 'A2B1') ? 'rgb' : 'deep';
  return metadata.depth !== 'uchar' ? 'deep' : 'rgb';
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
