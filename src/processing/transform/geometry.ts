/** Sizes in pixels, as displayed (after EXIF orientation). */
export interface Size {
  width: number;
  height: number;
}

/**
 * For JPEG_SHRINK_ON_LOAD=true (off by default): the largest of 8, 4 and 2 that
 * the resize reduces both sides by at least (Lanczos does the rest), or 1. sharp
 * alone shrinks on load by 2, 4 or 8 only from a reduction of 3, 5 or 9 (libjpeg's
 * rounding, its pipeline.cc), so an exact 50 % resize decodes every pixel, and so
 * does the transformer by default. Measured for 2000x1500 JPEGs at 50 %
 * (bench/, 2 cores): 25 instead of 46 ms of CPU per image; against a full-decode
 * Lanczos reference, PSNR 38.5 instead of 39.3 dB at 2 % fewer bytes for a
 * product-shot-like image (flat background, hard edges, text), but 29.7 instead
 * of 35.0 dB at 44 % more bytes for the bench's noise-textured photos: the DCT
 * keeps the fine texture that Lanczos smooths away, and that texture costs bytes.
 * Over the formats bench's JPEGs at 50 % it made 1.34x plain sharp's bytes (worst
 * file 1.42x) at SSIM 0.918 against 0.959, outside issue 30's bound (within 5 %
 * at equal or better SSIM), hence off by default.
 */
export function shrinkOnLoadFactor(source: Size, target: Size): number {
  const reduction = Math.min(source.width / target.width, source.height / target.height);
  // A rounded target side can be a pixel more than the exact half.
  const slack = 1.001;
  return [8, 4, 2].find((factor) => reduction * slack >= factor) ?? 1;
}

/** Each side is rounded on its own and kept at least 1 pixel. */
export function scaled(size: Size, factor: number | null): Size {
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
export function fittedInside(size: Size, maxWidth: number | null, maxHeight: number | null): Size {
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
