/**
 * The marker segments of a JPEG up to its first scan, where libjpeg finds the
 * frame size and every metadata block before it reads a pixel. The header
 * reader, the metadata stripper and the truncation check all start from this
 * one walk, so they agree on where the scan starts.
 */
export interface JpegSegment {
  marker: number;
  /** Index of the marker's 0xFF; its payload runs from start + 4 to end. */
  start: number;
  /** Index just past the segment, as its length field says (may lie past the file for the scan). */
  end: number;
}

export interface JpegMarkers {
  /** The whole segments before the scan, in file order. */
  segments: JpegSegment[];
  /** The start-of-scan segment; null when the walk stopped before one (see below). */
  scan: JpegSegment | null;
  /**
   * 0xFF fill bytes stood before some marker. Legal, skipped as libjpeg skips
   * them, but rare enough that the readers which rewrite or trust the
   * structure leave such a file to libvips.
   */
  filled: boolean;
}

// Markers without a length field: TEM, RST0-7, SOI and EOI. None belongs before a scan.
const LENGTHLESS = new Set([0x01, 0xd0, 0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9]);
const SOS = 0xda;

/**
 * Null when the file does not start with SOI. The walk stops without a scan at
 * a byte that is not a marker, at a marker without a length, at a segment
 * that runs past the file, or where the file ends.
 */
export function jpegMarkers(jpeg: Buffer): JpegMarkers | null {
  if (jpeg.length < 2 || jpeg[0] !== 0xff || jpeg[1] !== 0xd8) return null;
  const segments: JpegSegment[] = [];
  let filled = false;
  let offset = 2;
  while (offset + 4 <= jpeg.length && jpeg[offset] === 0xff) {
    const marker = jpeg[offset + 1];
    if (marker === 0xff) {
      filled = true;
      offset++;
      continue;
    }
    if (LENGTHLESS.has(marker)) break;
    const length = jpeg.readUInt16BE(offset + 2);
    const segment = { marker, start: offset, end: offset + 2 + length };
    if (marker === SOS) return { segments, scan: segment, filled };
    if (length < 2 || segment.end > jpeg.length) break;
    segments.push(segment);
    offset = segment.end;
  }
  return { segments, scan: null, filled };
}
