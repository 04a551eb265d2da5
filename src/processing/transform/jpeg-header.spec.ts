import sharp from 'sharp';
import { readJpegHeader } from './jpeg-header.js';

const photo = () =>
  sharp({ create: { width: 48, height: 32, channels: 3, background: { r: 200, g: 120, b: 40 } } }).jpeg();

/** What libvips reports, in readJpegHeader's terms. */
async function libvips(jpeg: Buffer) {
  const metadata = await sharp(jpeg).metadata();
  return {
    ...metadata.autoOrient,
    colour: metadata.space === 'b-w' ? 'grey' : 'rgb',
    orientation: metadata.orientation ?? 1,
  };
}

/** An APP1 EXIF segment whose first IFD holds `entries` (tag, type, count, value), in either byte order. */
function exifSegment(order: 'II' | 'MM', entries: [number, number, number, number][], nextIfd = 0): Buffer {
  const little = order === 'II';
  const tiff = Buffer.alloc(8 + 2 + 12 * entries.length + 4);
  const u16 = (value: number, at: number) => (little ? tiff.writeUInt16LE(value, at) : tiff.writeUInt16BE(value, at));
  const u32 = (value: number, at: number) => (little ? tiff.writeUInt32LE(value, at) : tiff.writeUInt32BE(value, at));
  tiff.write(order, 0, 'latin1');
  u16(42, 2);
  u32(8, 4);
  u16(entries.length, 8);
  entries.forEach(([tag, type, count, value], index) => {
    const at = 10 + 12 * index;
    u16(tag, at);
    u16(type, at + 2);
    u32(count, at + 4);
    u16(value, at + 8);
  });
  u32(nextIfd, 10 + 12 * entries.length);
  const payload = Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), tiff]);
  const header = Buffer.from([0xff, 0xe1, 0, 0]);
  header.writeUInt16BE(payload.length + 2, 2);
  return Buffer.concat([header, payload]);
}

/** The JPEG with `segments` inserted right after its SOI marker. */
const withSegments = (jpeg: Buffer, ...segments: Buffer[]) =>
  Buffer.concat([jpeg.subarray(0, 2), ...segments, jpeg.subarray(2)]);

describe('readJpegHeader', () => {
  it('reads what libvips reads from colour, grey and progressive JPEGs', async () => {
    const files = [
      await photo().toBuffer(),
      await photo().jpeg({ progressive: true }).toBuffer(),
      await photo().toColourspace('b-w').jpeg().toBuffer(),
      await photo().jpeg({ mozjpeg: true }).toBuffer(),
    ];
    for (const file of files) {
      expect(readJpegHeader(file)).toMatchObject(await libvips(file));
    }
    expect(readJpegHeader(files[2])).toMatchObject({ colour: 'grey', hasMetadata: false });
  });

  it.each([1, 2, 3, 4, 5, 6, 7, 8])('reads EXIF orientation %i as libvips does', async (orientation) => {
    const file = await photo().withMetadata({ orientation }).toBuffer();
    const header = readJpegHeader(file);
    expect(header).toMatchObject(await libvips(file));
    // As shown: 5-8 turn it a quarter.
    const shown = orientation >= 5 ? { width: 32, height: 48 } : { width: 48, height: 32 };
    expect(header).toMatchObject({ orientation, ...shown, hasMetadata: true });
  });

  it('reads a big-endian EXIF block, and none without an orientation tag as 1', async () => {
    const plain = await photo().toBuffer();
    const bigEndian = withSegments(plain, exifSegment('MM', [[0x0112, 3, 1, 6]]));
    expect(readJpegHeader(bigEndian)).toMatchObject({ ...(await libvips(bigEndian)), orientation: 6 });
    const noOrientation = withSegments(plain, exifSegment('II', [[0x010f, 2, 1, 0x41]]));
    expect(readJpegHeader(noOrientation)).toMatchObject({
      ...(await libvips(noOrientation)),
      orientation: 1,
      hasMetadata: true,
    });
  });

  it('counts XMP and IPTC as metadata', async () => {
    const xmp = await photo().withXmp('<x:xmpmeta xmlns:x="adobe:ns:meta/"></x:xmpmeta>').toBuffer();
    expect(readJpegHeader(xmp)).toMatchObject({ hasMetadata: true });
    const iptc = Buffer.from('Photoshop 3.0\0' + '8BIM\x04\x04\0\0\0\0\0\0', 'latin1');
    const app13 = Buffer.concat([Buffer.from([0xff, 0xed, 0, iptc.length + 2]), iptc]);
    expect(readJpegHeader(withSegments(await photo().toBuffer(), app13))).toMatchObject({ hasMetadata: true });
  });

  it('leaves to libvips what it does not read with certainty', async () => {
    const plain = await photo().toBuffer();
    const cases: Record<string, Buffer> = {
      cmyk: await photo().toColourspace('cmyk').jpeg().toBuffer(),
      'orientation 9': withSegments(plain, exifSegment('II', [[0x0112, 3, 1, 9]])),
      'orientation as a LONG': withSegments(plain, exifSegment('II', [[0x0112, 4, 1, 6]])),
      'orientation twice': withSegments(
        plain,
        exifSegment('II', [
          [0x0112, 3, 1, 6],
          [0x0112, 3, 1, 3],
        ]),
      ),
      'two EXIF blocks': withSegments(plain, exifSegment('II', [[0x0112, 3, 1, 6]]), exifSegment('II', [])),
      // Without one in the first IFD, a reader may take the thumbnail's.
      'a second IFD and no orientation in the first': withSegments(plain, exifSegment('II', [], 8)),
      'an IFD past the block': withSegments(plain, exifSegment('II', [[0x0112, 3, 1, 6]]).subarray(0, 20)),
      'a marker longer than the file': plain.subarray(0, 30),
      'no SOI': plain.subarray(2),
      'fill bytes before a marker': withSegments(plain, Buffer.from([0xff])),
      'extended XMP': withSegments(
        plain,
        Buffer.concat([
          Buffer.from([0xff, 0xe1, 0, 38]),
          Buffer.from('http://ns.adobe.com/xmp/extension/\0', 'latin1'),
        ]),
      ),
    };
    for (const [name, file] of Object.entries(cases)) {
      expect([name, readJpegHeader(file)]).toEqual([name, null]);
    }
  });

  it('never reads past the end of a cut file', async () => {
    const file = await photo().withMetadata({ orientation: 6 }).jpeg({ progressive: true }).toBuffer();
    for (let length = 0; length < file.length; length += 7) {
      const header = readJpegHeader(file.subarray(0, length));
      // Whatever it reads of a cut file it reads from markers that are whole.
      if (header !== null) expect(header).toMatchObject({ width: 32, height: 48, orientation: 6 });
    }
  });
});
