import { crc32 } from 'node:zlib';
import { ImageErrorCode, ImageJobError } from '../image-error.js';
import type { ImageFormat } from './image-format.js';

const NAME: Record<ImageFormat, string> = { jpeg: 'JPEG', png: 'PNG', gif: 'GIF', webp: 'WebP', avif: 'AVIF' };

// libvips' and its decoders' words for data that ends too early.
const TRUNCATED =
  /premature end|truncat|unexpected end|end of (file|data|stream)|not enough data|out of data|short read|eof/i;
const CHECKSUM = /crc|checksum|adler/i;

/**
 * A corrupt input as the shop owner should read it: what is wrong with their
 * file, in words, without libvips' text, which can name temp files and server
 * paths and, since libvips keeps one error buffer per process, may even be
 * another image's. That text stays in `cause` for the logs (transformFailureDetail).
 */
export function decodeError(format: ImageFormat, libvipsText: string, cause?: unknown, input?: Buffer): ImageJobError {
  const name = NAME[format];
  let message: string;
  // libvips reports a PNG CRC error only as "libpng read error".
  if (CHECKSUM.test(libvipsText) || (format === 'png' && input !== undefined && pngChecksumMismatch(input))) {
    message = `The ${name} file is damaged: a checksum inside it does not match its data. Export or save the image again and upload the new file.`;
  } else if (TRUNCATED.test(libvipsText)) {
    message = `The ${name} file is incomplete: it ends before the picture does, as if the upload or download was cut off. Upload the complete file.`;
  } else {
    message = `The ${name} file is damaged and cannot be read as a picture. Export or save the image again and upload the new file.`;
  }
  return new ImageJobError(ImageErrorCode.DecodeError, message, false, { cause: cause ?? new Error(libvipsText) });
}

/** An incomplete file we detect ourselves (libvips would accept it). */
export function truncatedError(format: ImageFormat): ImageJobError {
  return decodeError(format, 'truncated: no end marker (JPEG EOI, PNG IEND, GIF trailer) after the image data');
}

/** A failure that is not the image's fault; the worker may try again when `retryable`. */
export function processingError(format: ImageFormat, cause: unknown, retryable: boolean): ImageJobError {
  return new ImageJobError(
    ImageErrorCode.ProcessingError,
    `The ${NAME[format]} image could not be processed because of a problem on our side.`,
    retryable,
    { cause },
  );
}

export function timeoutError(format: ImageFormat, seconds: number | undefined, cause: unknown): ImageJobError {
  return new ImageJobError(
    ImageErrorCode.ProcessingError,
    `The ${NAME[format]} image took longer than the ${seconds} s allowed to process; a smaller image will work.`,
    false,
    { cause },
  );
}

/**
 * The library's own text behind a transform failure, for the logs only, each
 * line once (libvips repeats a decoder's complaint for every tile that hits it).
 * None for a decode error: libvips keeps one error buffer per process, so the
 * text of a file that fails to decode holds the lines of every image failing
 * beside it (three damaged JPEGs processed together each logged the others'
 * lines, even when re-decoded one at a time), and the message already says what
 * is wrong with the file.
 */
export function transformFailureDetail(error: unknown): string | null {
  if (!(error instanceof Error) || error.cause === undefined) return null;
  if (error instanceof ImageJobError && error.code === String(ImageErrorCode.DecodeError)) return null;
  // Whatever the library threw: an Error, or some other value.
  const cause: unknown = error.cause;
  const text = cause instanceof Error ? cause.message : String(cause);
  const lines = new Set(text.split('\n').map((line) => line.trim()));
  lines.delete('');
  return [...lines].join('\n');
}

/** True when a complete PNG chunk's CRC does not match its type and data. */
function pngChecksumMismatch(png: Buffer): boolean {
  for (let offset = 8; offset + 12 <= png.length;) {
    const end = offset + 12 + png.readUInt32BE(offset);
    if (end > png.length) return false;
    if (crc32(png.subarray(offset + 4, end - 4)) !== png.readUInt32BE(end - 4)) return true;
    offset = end;
  }
  return false;
}
