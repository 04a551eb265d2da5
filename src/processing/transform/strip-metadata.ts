import { gifBlocks } from './gif-structure.js';
import type { ImageFormat } from './image-format.js';
import { jpegMarkers } from './jpeg-markers.js';

/**
 * A kept original (re-encoding did not make it smaller) without personal
 * metadata: EXIF (GPS, camera serials, dates), XMP, IPTC and comments go,
 * without re-encoding a pixel. What browsers need to show it as it is stays:
 * the ICC profile, JFIF and Adobe (CMYK) markers, animation control.
 * Orientation survives in JPEG as a minimal EXIF block holding only that tag;
 * other formats keep their orientation only inside EXIF, so a rotated one
 * returns null and is re-encoded upright instead. Null also for an AVIF that
 * carries metadata: rewriting its boxes is not worth the risk, and when the
 * result would be longer than `maxBytes`: a kept original must not be larger
 * than the encoded image, which for most photos is the smaller, so nothing is
 * copied for them.
 */
export function stripMetadata(
  format: ImageFormat,
  input: Buffer,
  details: { orientation: number; hasMetadata: boolean },
  maxBytes = Infinity,
): Buffer | null {
  const parts = strippedParts(format, input, details);
  if (parts === null) return null;
  const length = parts.reduce((sum, part) => sum + part.length, 0);
  return length <= maxBytes ? Buffer.concat(parts, length) : null;
}

/** The pieces of the input, in order, that the stripped file is made of. */
function strippedParts(
  format: ImageFormat,
  input: Buffer,
  details: { orientation: number; hasMetadata: boolean },
): Buffer[] | null {
  switch (format) {
    case 'jpeg':
      return stripJpeg(input, details.orientation);
    case 'png':
      return details.orientation === 1 ? stripPng(input) : null;
    case 'webp':
      return details.orientation === 1 ? stripWebp(input) : null;
    case 'gif':
      return stripGif(input);
    case 'avif':
      return details.hasMetadata || details.orientation !== 1 ? null : [input];
  }
}

// APP0 (JFIF), APP2 (ICC profile, MPF) and APP14 (Adobe: how to read CMYK) stay;
// APP1 (EXIF, XMP), APP3-APP13 (IPTC in APP13), APP15 and comments go.
const JPEG_KEPT_APP = new Set([0xe0, 0xe2, 0xee]);

function stripJpeg(jpeg: Buffer, orientation: number): Buffer[] | null {
  const markers = jpegMarkers(jpeg);
  // No scan where the walk stopped, or fill bytes: too unusual to rewrite safely.
  if (markers === null || markers.scan === null || markers.filled) return null;
  const parts: Buffer[] = [jpeg.subarray(0, 2)];
  let inserted = orientation === 1;
  for (const { marker, start, end } of markers.segments) {
    const isApp = (marker >= 0xe0 && marker <= 0xef) || marker === 0xfe;
    if (!inserted && marker !== 0xe0) {
      parts.push(orientationExif(orientation));
      inserted = true;
    }
    if (!isApp || JPEG_KEPT_APP.has(marker)) parts.push(jpeg.subarray(start, end));
  }
  if (!inserted) parts.push(orientationExif(orientation));
  // The scan and everything after it, as they were.
  parts.push(jpeg.subarray(markers.scan.start));
  return parts;
}

/** An APP1 EXIF segment with one IFD entry: Orientation (0x0112, SHORT). */
function orientationExif(orientation: number): Buffer {
  const tiff = Buffer.alloc(26);
  tiff.write('MM\0*', 0, 'latin1');
  tiff.writeUInt32BE(8, 4);
  tiff.writeUInt16BE(1, 8);
  tiff.writeUInt16BE(0x0112, 10);
  tiff.writeUInt16BE(3, 12);
  tiff.writeUInt32BE(1, 14);
  tiff.writeUInt16BE(orientation, 18);
  // Bytes 22-25: no next IFD.
  const payload = Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), tiff]);
  const header = Buffer.from([0xff, 0xe1, 0, 0]);
  header.writeUInt16BE(payload.length + 2, 2);
  return Buffer.concat([header, payload]);
}

const PNG_DROPPED = new Set(['eXIf', 'tEXt', 'zTXt', 'iTXt', 'tIME']);

function stripPng(png: Buffer): Buffer[] | null {
  const parts: Buffer[] = [png.subarray(0, 8)];
  let offset = 8;
  while (offset + 12 <= png.length) {
    const end = offset + 12 + png.readUInt32BE(offset);
    if (end > png.length) return null;
    if (!PNG_DROPPED.has(png.toString('latin1', offset + 4, offset + 8))) parts.push(png.subarray(offset, end));
    offset = end;
  }
  parts.push(png.subarray(offset));
  return parts;
}

const VP8X_EXIF = 0x08;
const VP8X_XMP = 0x04;

function stripWebp(webp: Buffer): Buffer[] | null {
  if (webp.toString('latin1', 12, 16) !== 'VP8X') return [webp]; // simple formats carry no metadata
  const parts: Buffer[] = [];
  let offset = 12;
  while (offset + 8 <= webp.length) {
    const size = webp.readUInt32LE(offset + 4);
    const end = offset + 8 + size + (size % 2);
    if (end > webp.length) return null;
    const id = webp.toString('latin1', offset, offset + 4);
    if (id === 'VP8X') {
      const chunk = Buffer.from(webp.subarray(offset, end));
      chunk[8] &= ~(VP8X_EXIF | VP8X_XMP);
      parts.push(chunk);
    } else if (id !== 'EXIF' && id !== 'XMP ') {
      parts.push(webp.subarray(offset, end));
    }
    offset = end;
  }
  const header = Buffer.from(webp.subarray(0, 12));
  header.writeUInt32LE(
    parts.reduce((sum, part) => sum + part.length, 4),
    4,
  );
  return [header, ...parts];
}

// Looping (NETSCAPE2.0, ANIMEXTS1.0) is what an application extension is kept for; XMP and the rest go.
const GIF_KEPT_APPLICATIONS = new Set(['NETSCAPE2.0', 'ANIMEXTS1.0']);
const GIF_COMMENT = 0xfe;

function stripGif(gif: Buffer): Buffer[] | null {
  const blocks = gifBlocks(gif);
  if (blocks === null) return null;
  const kept = blocks.filter(
    (block) =>
      !(block.kind === 'extension' && block.label === GIF_COMMENT) &&
      !(block.kind === 'application' && !GIF_KEPT_APPLICATIONS.has(block.application ?? '')),
  );
  return kept.map((block) => gif.subarray(block.start, block.end));
}
