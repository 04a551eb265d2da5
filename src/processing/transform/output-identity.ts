import { createHash } from 'node:crypto';
import sharp from 'sharp';
import { type ProcessingOptions, withDefaults } from '../../requests/processing-options.js';

/**
 * The version of the image pipeline (decoding, geometry, encoders and their
 * settings in this folder): bump it with any change that alters an output's
 * bytes, and no output made before is reused (docs/architecture.md, "Re-runs").
 */
export const PIPELINE_VERSION = 1;

/**
 * SHA-256 of everything besides the source bytes that decides an output's
 * bytes: each processing option (defaults filled in, so a request stored
 * before an option existed matches one that sent its default), the settings
 * that change what the encoders write, and the versions of sharp and libvips.
 * `reuse` is not among them: it decides whether to look, not what is made.
 */
export function outputOptionsKey(options: ProcessingOptions, jpegShrinkOnLoad: boolean): string {
  const { resize, maxWidth, maxHeight, quality, format } = withDefaults(options);
  return createHash('sha256')
    .update(
      JSON.stringify({
        resize,
        maxWidth,
        maxHeight,
        quality,
        format,
        jpegShrinkOnLoad,
        sharp: sharp.versions.sharp,
        vips: sharp.versions.vips,
      }),
    )
    .digest('hex');
}
