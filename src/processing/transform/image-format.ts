/** The formats pixbatch decodes and re-encodes; output keeps the input's format. */
export type ImageFormat = 'jpeg' | 'png' | 'gif' | 'webp' | 'avif';

/** File extension used for stored output of each format. */
export const EXTENSION: Record<ImageFormat, string> = {
  jpeg: 'jpg',
  png: 'png',
  gif: 'gif',
  webp: 'webp',
  avif: 'avif',
};

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
// JPEG 2000 and JPEG XL containers both open with a 12-byte signature box.
const JP2_SIGNATURE = Buffer.from([0, 0, 0, 0x0c, 0x6a, 0x50, 0x20, 0x20, 0x0d, 0x0a, 0x87, 0x0a]);
const JXL_SIGNATURE = Buffer.from([0, 0, 0, 0x0c, 0x4a, 0x58, 0x4c, 0x20, 0x0d, 0x0a, 0x87, 0x0a]);

const AVIF_BRANDS = new Set(['avif', 'avis']);
// HEIC/HEIF (HEVC), JPEG XL and Canon raw in ISO-BMFF: images, but not ones we decode.
// Video brands (isom, mp42, qt) fall through to "not an image".
const OTHER_IMAGE_BRANDS = new Set([
  'heic',
  'heix',
  'heim',
  'heis',
  'hevc',
  'hevx',
  'hevm',
  'hevs',
  'mif1',
  'msf1',
  'jxl ',
  'crx ',
]);

// BITMAPINFOHEADER and its variants; checking it keeps "BM…" text from passing as a bitmap.
const BMP_DIB_HEADER_SIZES = new Set([12, 40, 52, 56, 64, 108, 124]);

// Enough to get past an XML declaration, comments and a DOCTYPE to the root element.
const SVG_SCAN_BYTES = 4096;

/**
 * Identifies an image by its magic bytes alone; the Content-Type header and
 * the URL's extension are not trusted. Returns 'unsupported-image' for images
 * in formats we do not process and null for anything that is not an image.
 */
export function sniffImageFormat(bytes: Buffer): ImageFormat | 'unsupported-image' | null {
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return 'jpeg';
  if (bytes.subarray(0, 8).equals(PNG_SIGNATURE)) return 'png';
  if (ascii(bytes, 0, 6) === 'GIF87a' || ascii(bytes, 0, 6) === 'GIF89a') return 'gif';
  if (ascii(bytes, 0, 4) === 'RIFF' && ascii(bytes, 8, 12) === 'WEBP') return 'webp';
  if (ascii(bytes, 4, 8) === 'ftyp') return sniffIsoBmff(bytes);
  return isOtherImage(bytes) ? 'unsupported-image' : null;
}

/** AVIF only when the major brand or a compatible brand says so. */
function sniffIsoBmff(bytes: Buffer): ImageFormat | 'unsupported-image' | null {
  const boxSize = bytes.readUInt32BE(0);
  // A size below the minimal ftyp (or the 64-bit form, 1) leaves only the major brand to trust.
  const end = Math.min(boxSize >= 16 ? boxSize : 12, bytes.length);
  const brands = [ascii(bytes, 8, 12)];
  for (let offset = 16; offset + 4 <= end; offset += 4) brands.push(ascii(bytes, offset, offset + 4));
  if (brands.some((brand) => AVIF_BRANDS.has(brand))) return 'avif';
  if (brands.some((brand) => OTHER_IMAGE_BRANDS.has(brand))) return 'unsupported-image';
  return null;
}

function isOtherImage(bytes: Buffer): boolean {
  return (
    startsWith(bytes, [0x49, 0x49, 0x2a, 0x00]) || // TIFF, little-endian
    startsWith(bytes, [0x4d, 0x4d, 0x00, 0x2a]) || // TIFF, big-endian
    startsWith(bytes, [0x49, 0x49, 0x2b, 0x00]) || // BigTIFF, little-endian
    startsWith(bytes, [0x4d, 0x4d, 0x00, 0x2b]) || // BigTIFF, big-endian
    isBmp(bytes) ||
    isIcon(bytes) ||
    ascii(bytes, 0, 5) === '%PDF-' ||
    ascii(bytes, 0, 4) === '8BPS' || // Photoshop
    bytes.subarray(0, 12).equals(JP2_SIGNATURE) ||
    bytes.subarray(0, 12).equals(JXL_SIGNATURE) ||
    startsWith(bytes, [0xff, 0x0a]) || // bare JPEG XL codestream
    isSvg(bytes)
  );
}

function isBmp(bytes: Buffer): boolean {
  return ascii(bytes, 0, 2) === 'BM' && bytes.length >= 18 && BMP_DIB_HEADER_SIZES.has(bytes.readUInt32LE(14));
}

/** ICO (type 1) and CUR (type 2): reserved zero, type, then a non-zero image count. */
function isIcon(bytes: Buffer): boolean {
  return (
    bytes.length >= 6 &&
    bytes.readUInt16LE(0) === 0 &&
    (bytes.readUInt16LE(2) === 1 || bytes.readUInt16LE(2) === 2) &&
    bytes.readUInt16LE(4) > 0
  );
}

/**
 * SVG when the root element is <svg>, after any BOM, XML declaration,
 * processing instructions, comments and DOCTYPE. HTML with inline <svg> has an
 * <html> root (or none) and so stays "not an image".
 */
function isSvg(bytes: Buffer): boolean {
  let text = bytes
    .subarray(0, SVG_SCAN_BYTES)
    .toString('utf8')
    .replace(/^\uFEFF/, '');
  for (;;) {
    text = text.trimStart();
    if (text.startsWith('<?')) text = after(text, '?>');
    else if (text.startsWith('<!--')) text = after(text, '-->');
    else if (/^<!DOCTYPE/i.test(text)) text = after(text, /\[[\s\S]*?\]\s*>|>/);
    else return /^<svg[\s>/]/.test(text);
  }
}

/** The text after the first match of `end`, or '' when there is none. */
function after(text: string, end: string | RegExp): string {
  if (typeof end === 'string') {
    const index = text.indexOf(end);
    return index === -1 ? '' : text.slice(index + end.length);
  }
  const match = end.exec(text);
  return match ? text.slice(match.index + match[0].length) : '';
}

function startsWith(bytes: Buffer, prefix: readonly number[]): boolean {
  return bytes.length >= prefix.length && prefix.every((byte, index) => bytes[index] === byte);
}

function ascii(bytes: Buffer, start: number, end: number): string {
  return bytes.length >= end ? bytes.toString('latin1', start, end) : '';
}
