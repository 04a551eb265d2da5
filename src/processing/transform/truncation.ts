import { gifIsComplete } from './gif-structure.js';
import type { ImageFormat } from './image-format.js';
import { jpegMarkers } from './jpeg-markers.js';

const EOI = Buffer.from([0xff, 0xd9]);

/**
 * False when the file ends before its format says it does. libvips decodes some
 * truncated files without an error: a GIF up to its last complete frame, a
 * progressive JPEG (libjpeg only warns about "premature end") or a PNG whose
 * data is complete but whose IEND is missing (seen on Go's test files). We fail
 * all of them, as WebP and AVIF already fail, rather than store a picture with a
 * grey or missing bottom. Trailing bytes after the end marker are accepted.
 */
export function endsWhereItShould(format: ImageFormat, input: Buffer): boolean {
  switch (format) {
    case 'gif':
      return gifIsComplete(input);
    case 'jpeg':
      return jpegHasEnd(input);
    case 'png':
      return pngHasEnd(input);
    default:
      return true;
  }
}

/** An EOI marker after the first scan's header (an EXIF thumbnail before it has its own EOI). */
function jpegHasEnd(jpeg: Buffer): boolean {
  const scan = jpegMarkers(jpeg)?.scan;
  // No scan where one should be: libvips decides, and fails it.
  if (!scan) return true;
  return jpeg.lastIndexOf(EOI) > scan.start;
}

function pngHasEnd(png: Buffer): boolean {
  for (let offset = 8; offset + 12 <= png.length;) {
    const end = offset + 12 + png.readUInt32BE(offset);
    if (end > png.length) return false;
    if (png.toString('latin1', offset + 4, offset + 8) === 'IEND') return true;
    offset = end;
  }
  return false;
}
