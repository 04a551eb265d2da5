import type { Size } from './geometry.js';
import { jpegMarkers } from './jpeg-markers.js';

/**
 * What ImageTransformer needs to know of a JPEG before decoding it, read from
 * its markers in JavaScript: sharp's metadata() for the same answer cost
 * 0.56 ms of CPU per 1600x1200 photo (a libvips header load, and option
 * parsing on the event loop), this reader 2 µs (bench/README.md,
 * "Throughput and status on another VM").
 *
 * Only the common case is read here: 8-bit baseline, extended or progressive
 * data with one (grey) or three (colour) components, and at most one EXIF
 * block whose orientation sits in its first IFD. For anything else (CMYK,
 * 12-bit, lossless or arithmetic coding, an orientation found elsewhere or
 * not where its offsets say, a marker cut short) this returns null and the
 * caller asks libvips, so that the size the resize is computed from always
 * matches the orientation libvips applies.
 */
export interface JpegHeader extends Size {
  /** What the transformer makes of libvips' 'b-w' and 8-bit 'srgb'. */
  colour: 'grey' | 'rgb';
  /** EXIF orientation 1-8, 1 when absent. */
  orientation: number;
  /** EXIF, XMP or IPTC present. */
  hasMetadata: boolean;
}

const SOF_READ = new Set([0xc0, 0xc1, 0xc2]);
/** Every other start-of-frame marker: lossless, hierarchical, arithmetic. */
const SOF_OTHER = new Set([0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf]);
const EXIF = Buffer.from('Exif\0\0', 'latin1');
const XMP = Buffer.from('http://ns.adobe.com/xap/1.0/\0', 'latin1');
const PHOTOSHOP = Buffer.from('Photoshop 3.0\0', 'latin1');
const ORIENTATION_TAG = 0x0112;
const SHORT = 3;

export function readJpegHeader(jpeg: Buffer): JpegHeader | null {
  const markers = jpegMarkers(jpeg);
  if (markers === null || markers.filled) return null;
  const { segments, scan } = markers;
  if (scan === null || scan.end < scan.start + 4 || scan.end > jpeg.length) return null;
  let frame: { width: number; height: number; grey: boolean } | null = null;
  let orientation: number | null = 1;
  let exifBlocks = 0;
  let hasMetadata = false;
  for (const { marker, start, end } of segments) {
    const segment = jpeg.subarray(start + 4, end);
    if (SOF_READ.has(marker)) {
      if (frame !== null) return null;
      frame = startOfFrame(segment);
      if (frame === null) return null;
    } else if (SOF_OTHER.has(marker)) {
      return null;
    } else if (marker === 0xe1) {
      if (startsWith(segment, EXIF)) {
        exifBlocks++;
        hasMetadata = true;
        orientation = exifOrientation(segment.subarray(EXIF.length));
      } else if (startsWith(segment, XMP)) {
        hasMetadata = true;
      } else {
        // Extended XMP and other APP1 uses: leave what counts as metadata to libvips.
        return null;
      }
      if (exifBlocks > 1) return null;
    } else if (marker === 0xed && startsWith(segment, PHOTOSHOP)) {
      hasMetadata = true;
    }
  }
  if (frame === null || orientation === null) return null;
  const { width, height, grey } = frame;
  // Orientations 5-8 turn the picture a quarter.
  const displayed = orientation >= 5 ? { width: height, height: width } : { width, height };
  return { ...displayed, colour: grey ? 'grey' : 'rgb', orientation, hasMetadata };
}

function startOfFrame(segment: Buffer): { width: number; height: number; grey: boolean } | null {
  if (segment.length < 6) return null;
  const precision = segment[0];
  const height = segment.readUInt16BE(1);
  const width = segment.readUInt16BE(3);
  const components = segment[5];
  // Height 0 is declared later (DNL): libvips copes, this reader does not.
  if (precision !== 8 || height === 0 || width === 0) return null;
  if (components !== 1 && components !== 3) return null;
  if (segment.length < 6 + 3 * components) return null;
  return { width, height, grey: components === 1 };
}

/** The orientation in the first IFD of a TIFF structure; 1 when absent, null when unsure. */
function exifOrientation(tiff: Buffer): number | null {
  if (tiff.length < 8) return null;
  const order = tiff.toString('latin1', 0, 2);
  if (order !== 'II' && order !== 'MM') return null;
  const little = order === 'II';
  const u16 = (at: number) => (little ? tiff.readUInt16LE(at) : tiff.readUInt16BE(at));
  const u32 = (at: number) => (little ? tiff.readUInt32LE(at) : tiff.readUInt32BE(at));
  if (u16(2) !== 42) return null;
  const ifd = u32(4);
  if (ifd < 8 || ifd + 2 > tiff.length) return null;
  const entries = u16(ifd);
  const next = ifd + 2 + 12 * entries;
  if (next + 4 > tiff.length) return null;
  let orientation = 0;
  for (let entry = ifd + 2; entry < next; entry += 12) {
    if (u16(entry) !== ORIENTATION_TAG) continue;
    if (orientation !== 0 || u16(entry + 2) !== SHORT || u32(entry + 4) !== 1) return null;
    orientation = u16(entry + 8);
    if (orientation < 1 || orientation > 8) return null;
  }
  if (orientation !== 0) return orientation;
  // None in the first IFD: whether a reader then looks in the thumbnail's is its own choice.
  return u32(next) === 0 ? 1 : null;
}

function startsWith(segment: Buffer, prefix: Buffer): boolean {
  return segment.length >= prefix.length && segment.subarray(0, prefix.length).equals(prefix);
}
