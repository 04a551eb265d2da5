import { ImageErrorCode } from '../image-error.js';
import { decodeError, processingError, transformFailureDetail } from './transform-failure.js';

describe('transformFailureDetail', () => {
  it('gives the library text of a processing error, each line once', () => {
    const cause = new Error('unable to write to target\nVipsForeignSave: disk full\nunable to write to target\n');

    expect(transformFailureDetail(processingError('png', cause, true))).toBe(
      'unable to write to target\nVipsForeignSave: disk full',
    );
  });

  it("gives none for a decode error, whose libvips text may be other images' lines", () => {
    const error = decodeError('jpeg', 'VipsJpeg: Unsupported marker type 0x24', new Error('VipsJpeg: x\nVipsJpeg: y'));

    expect(error.code).toBe(ImageErrorCode.DecodeError);
    expect(transformFailureDetail(error)).toBeNull();
  });
});
