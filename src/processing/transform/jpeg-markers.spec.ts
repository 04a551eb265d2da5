import sharp from 'sharp';
import { jpegMarkers } from './jpeg-markers.js';
import { stripMetadata } from './strip-metadata.js';
import { endsWhereItShould } from './truncation.js';

const photo = () =>
  sharp({ create: { width: 48, height: 32, channels: 3, background: { r: 200, g: 120, b: 40 } } })
    .withExif({ IFD0: { Copyright: 'someone' } })
    .jpeg()
    .toBuffer();

/** The file with `inserted` placed right after its SOI. */
const afterSoi = (jpeg: Buffer, inserted: Buffer) => Buffer.concat([jpeg.subarray(0, 2), inserted, jpeg.subarray(2)]);

describe('jpegMarkers', () => {
  it('walks every segment before the scan, each whole, and stops at the scan', async () => {
    const jpeg = await photo();
    const markers = jpegMarkers(jpeg)!;
    expect(markers.filled).toBe(false);
    expect(markers.segments.map((segment) => segment.marker)).toEqual(expect.arrayContaining([0xe1, 0xdb, 0xc0, 0xc4]));
    let offset = 2;
    for (const segment of markers.segments) {
      expect(segment.start).toBe(offset);
      offset = segment.end;
    }
    expect(markers.scan).toMatchObject({ marker: 0xda, start: offset });
  });

  it('skips fill bytes as libjpeg does, and says so', async () => {
    const jpeg = await photo();
    const filled = jpegMarkers(afterSoi(jpeg, Buffer.from([0xff, 0xff])))!;
    expect(filled.filled).toBe(true);
    expect(filled.scan!.start).toBe(jpegMarkers(jpeg)!.scan!.start + 2);
  });

  it('finds no scan in a file that is not a marker sequence before one', async () => {
    const jpeg = await photo();
    expect(jpegMarkers(jpeg.subarray(2))).toBeNull();
    expect(jpegMarkers(afterSoi(jpeg, Buffer.from('junk')))!.scan).toBeNull();
    expect(jpegMarkers(afterSoi(jpeg, Buffer.from([0xff, 0xd0])))!.scan).toBeNull();
    expect(jpegMarkers(jpeg.subarray(0, 30))!.scan).toBeNull();
  });

  it('leaves a JPEG it cannot walk to the scan unstripped, so no EXIF hides behind junk', async () => {
    const jpeg = await photo();
    // libjpeg skips stray bytes between markers and reads the EXIF after them.
    const hidden = afterSoi(jpeg, Buffer.from('junk'));
    expect(stripMetadata('jpeg', hidden, { orientation: 1, hasMetadata: true })).toBeNull();
    const stripped = stripMetadata('jpeg', jpeg, { orientation: 1, hasMetadata: true })!;
    expect((await sharp(stripped).metadata()).exif).toBeUndefined();
  });

  it('tells a JPEG cut in its scan from a whole one, fill bytes or not', async () => {
    const jpeg = afterSoi(await photo(), Buffer.from([0xff]));
    expect(endsWhereItShould('jpeg', jpeg)).toBe(true);
    expect(endsWhereItShould('jpeg', jpeg.subarray(0, jpeg.length - 10))).toBe(false);
  });
});
