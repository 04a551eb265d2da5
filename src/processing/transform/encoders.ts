import type { Sharp } from 'sharp';
import { type Size } from './geometry.js';
import type { ImageFormat } from './image-format.js';

/**
 * How the decoded pixels become sRGB: 'grey' stays one channel (JPEG and PNG);
 * 'untagged-cmyk' is converted the way browsers show a CMYK JPEG without a
 * profile; 'rgb' goes through libvips' colour management (any embedded profile)
 * and 'deep' (16-bit, or CMYK with a profile) through an sRGB pipeline.
 */
export type Colour = 'grey' | 'untagged-cmyk' | 'rgb' | 'deep';

/*
 * Encoder settings, measured with sharp 0.35.5 / libvips 8.18 on 2 cores
 * (per 1200x1200 image, one at a time):
 * - JPEG: mozjpeg would save 28-41 % more bytes at 2-4.5x the time.
 * - PNG: lossless compressionLevel 9 kept a photo at 99 % of its input (and made an
 *   adaptively filtered one 2.7x larger); palette quantisation at effort 1 gives
 *   16-36 % in 0.53-0.56 s (about 1.9 images/s; effort 3 is 10-15 % slower for no
 *   gain, the default effort 7 takes 6.7 s), and 21 % for a flat logo with alpha.
 *   Without dithering and at zlib level 6 instead of 9 (bench/, 1200x1200 photo-like
 *   PNGs): 36 % less CPU (300 against 467 ms), 14 % instead of 18 % of the input
 *   bytes, and 1.7 dB better PSNR, since dither noise is what deflate compresses
 *   worst. Effort 6, not 1 (issue 30): up to effort 3 libimagequant keeps all 256
 *   colours without trying fewer, and MATE's Gulp.png (a smooth wallpaper) at half
 *   size came out 90 480 B at SSIM 0.992 against a plain sharp script's 30 526 B at
 *   0.997; effort 4 made 54 016 B, 5 51 349 B, 6 25 977 B at 0.997. The cost, one
 *   image at a time: 1055 against 305 ms for a 1200x1200 bench photo, 560 against
 *   318 ms for a 1920x1200 photo (MATE's RainDrops.jpg as PNG); effort 7 took 1641
 *   and 658 ms.
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
  png: (image, quality) => image.png({ palette: true, quality, effort: 6, dither: 0, compressionLevel: 6 }),
  webp: (image, quality) => image.webp({ quality, effort: 4 }),
  avif: (image, quality) => image.avif({ quality, effort: 4 }),
  gif: (image) => image.gif({ dither: 0, interFrameMaxError: 4, interPaletteMaxError: 16 }),
};

/**
 * A grey PNG is quantised like a colour one, its grey levels chosen by
 * libimagequant without dithering (zlib level 0: only the levels are kept), then
 * written again as one grey channel (greyPng), since libvips writes a palette PNG
 * as RGB. Measured at quality 50 against a plain sharp script's palette PNG
 * (real-image suite): MATE's Stripes.png (1920x1200, grey and alpha) 94 084 B at
 * SSIM 0.968 against 279 187 B at 0.835, where the lossless 8-bit grey this
 * replaces took 676 520 B; dithering brought back plain sharp's bytes and SSIM.
 */
const greyLevels =
  (effort: number) =>
  (image: Sharp, quality: number): Sharp =>
    image.png({ palette: true, quality, effort, dither: 0, compressionLevel: 0 });

/**
 * The second pass for grey: the quantised levels as one channel, unfiltered
 * (adaptive filtering made Stripes.png's dithered levels 44 % larger).
 */
export const greyPng = (image: Sharp): Sharp =>
  image.toColourspace('b-w').png({ palette: false, compressionLevel: 9, adaptiveFiltering: false });

/**
 * Up to this many pixels a PNG is quantised at sharp's default effort and zlib
 * level 9: for icons and PngSuite-sized files the fast settings made outputs up
 * to 20 % larger than a plain sharp script's, and the time is a few milliseconds.
 */
const SMALL_PNG_PIXELS = 250_000;
const smallPng = (image: Sharp, quality: number): Sharp => image.png({ palette: true, quality, compressionLevel: 9 });

/**
 * The levels a still GIF can be written from (stillGif in image-transformer.ts):
 * libimagequant at quality 85, effort 6, no dithering, as a PNG (zlib level 0:
 * only the palette matters). At half size against ImageMagick's -coalesce -resize
 * 50% -layers optimize: MATE's Storm.jpg as a 1920x1280 GIF 183 781 B at SSIM
 * 0.980 against 349 087 B at 0.944 (written directly: 270 354 B at 0.986); Go's
 * video-005.gray.gif 2 682 B at 0.997 against 3 338 B at 0.997 (directly:
 * 4 927 B). Quality 75-80 made smaller files whose SSIM fell more than 0.01
 * below a plain sharp script's.
 */
export const gifLevels = (image: Sharp): Sharp =>
  image.png({ palette: true, quality: 85, effort: 6, dither: 0, compressionLevel: 0 });

export function encoderFor(
  format: ImageFormat,
  colour: Colour,
  output: Size,
): (image: Sharp, quality: number) => Sharp {
  if (format !== 'png') return ENCODERS[format];
  const small = output.width * output.height <= SMALL_PNG_PIXELS;
  // Grey: sharp's default effort for small pictures, as for colour; above, effort 1 (effort 6
  // made Stripes.png 7 % smaller at 0.002 lower SSIM, 5 % slower). greyPng writes the levels.
  if (colour === 'grey') return greyLevels(small ? 7 : 1);
  return small ? smallPng : ENCODERS.png;
}
