/** One top-level GIF block: [start, end) in the file, and what it is. */
export interface GifBlock {
  start: number;
  end: number;
  /** 'image', 'trailer', 'extension' with its label, 'application' with its identifier. */
  kind: 'header' | 'image' | 'trailer' | 'extension' | 'application';
  label?: number;
  application?: string;
}

/**
 * The blocks of a GIF up to its trailer (GIF89a, section 17 ff.), or null when
 * the data ends first: a truncated file. libvips decodes such a file up to its
 * last complete frame without complaint, so this is how we notice.
 */
export function gifBlocks(gif: Buffer): GifBlock[] | null {
  if (gif.length < 13) return null;
  const packed = gif[10];
  let offset = 13 + (packed & 0x80 ? 3 * 2 ** ((packed & 0x07) + 1) : 0);
  const blocks: GifBlock[] = [{ start: 0, end: offset, kind: 'header' }];
  while (offset < gif.length) {
    const start = offset;
    const introducer = gif[offset];
    if (introducer === 0x3b) {
      blocks.push({ start, end: offset + 1, kind: 'trailer' });
      return blocks;
    }
    if (introducer === 0x21) {
      if (offset + 2 > gif.length) return null;
      const label = gif[offset + 1];
      const end = subBlocksEnd(gif, offset + 2);
      if (end === null) return null;
      const isApplication = label === 0xff && gif[offset + 2] === 11;
      blocks.push(
        isApplication
          ? { start, end, kind: 'application', application: gif.toString('latin1', offset + 3, offset + 14) }
          : { start, end, kind: 'extension', label },
      );
      offset = end;
    } else if (introducer === 0x2c) {
      if (offset + 10 > gif.length) return null;
      const local = gif[offset + 9];
      // Descriptor, local colour table, LZW minimum code size, then the data sub-blocks.
      const data = offset + 10 + (local & 0x80 ? 3 * 2 ** ((local & 0x07) + 1) : 0) + 1;
      const end = subBlocksEnd(gif, data);
      if (end === null) return null;
      blocks.push({ start, end, kind: 'image' });
      offset = end;
    } else {
      // Garbage where a block should start: not a complete GIF either.
      return null;
    }
  }
  return null;
}

export function gifIsComplete(gif: Buffer): boolean {
  return gifBlocks(gif) !== null;
}

/** The offset after a chain of sub-blocks starting at `offset`, or null when the data ends first. */
function subBlocksEnd(gif: Buffer, offset: number): number | null {
  while (offset < gif.length) {
    const size = gif[offset];
    offset += 1 + size;
    if (size === 0) return offset <= gif.length ? offset : null;
  }
  return null;
}
