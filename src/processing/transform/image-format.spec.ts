import sharp from 'sharp';
import { EXTENSION, type ImageFormat, sniffImageFormat } from './image-format.js';

const pixel = () => sharp({ create: { width: 4, height: 4, channels: 3, background: '#c33' } });

function ftyp(major: string, compatible: string[]): Buffer {
  const brands = Buffer.from(major + '\0\0\0\0' + compatible.join(''), 'latin1');
  const size = Buffer.alloc(4);
  size.writeUInt32BE(8 + brands.length);
  return Buffer.concat([size, Buffer.from('ftyp'), brands, Buffer.from('\0\0\0\x08free')]);
}

describe('sniffImageFormat', () => {
  it.each<[ImageFormat, () => Promise<Buffer>]>([
    ['jpeg', () => pixel().jpeg().toBuffer()],
    ['png', () => pixel().png().toBuffer()],
    ['gif', () => pixel().gif().toBuffer()],
    ['webp', () => pixel().webp().toBuffer()],
    ['avif', () => pixel().avif({ effort: 0 }).toBuffer()],
  ])('recognises %s written by sharp', async (format, encode) => {
    expect(sniffImageFormat(await encode())).toBe(format);
  });

  it('recognises GIF87a', () => {
    expect(sniffImageFormat(Buffer.from('GIF87a\x01\x00\x01\x00', 'latin1'))).toBe('gif');
  });

  it('recognises AVIF by a compatible brand and image sequences by avis', () => {
    expect(sniffImageFormat(ftyp('mif1', ['mif1', 'miaf', 'avif']))).toBe('avif');
    expect(sniffImageFormat(ftyp('avis', ['msf1']))).toBe('avif');
  });

  it('does not read brands beyond the ftyp box', () => {
    const box = ftyp('isom', ['mp41']);
    expect(sniffImageFormat(Buffer.concat([box, Buffer.from('avif')]))).toBeNull();
  });

  it.each<[string, Buffer | (() => Promise<Buffer>)]>([
    ['TIFF written by sharp', () => pixel().tiff().toBuffer()],
    ['big-endian TIFF', Buffer.from([0x4d, 0x4d, 0x00, 0x2a, 0, 0, 0, 8])],
    ['HEIC', ftyp('heic', ['mif1', 'heic'])],
    ['generic HEIF', ftyp('mif1', ['mif1', 'heic'])],
    ['BMP', bmpHeader()],
    ['ICO', Buffer.from([0, 0, 1, 0, 1, 0, 16, 16, 0, 0])],
    ['PDF', Buffer.from('%PDF-1.7\n%\xe2\xe3\xcf\xd3\n', 'latin1')],
    ['Photoshop', Buffer.from('8BPS\x00\x01', 'latin1')],
    ['bare SVG', Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>')],
    [
      'SVG with BOM, declaration, comment and DOCTYPE',
      Buffer.from(
        '\uFEFF<?xml version="1.0"?>\n<!-- drawn by hand -->\n' +
          '<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd" [\n' +
          '  <!ENTITY accent "#c33">\n]>\n<svg xmlns="http://www.w3.org/2000/svg"><rect fill="&accent;"/></svg>',
      ),
    ],
    ['JPEG 2000', Buffer.from([0, 0, 0, 0x0c, 0x6a, 0x50, 0x20, 0x20, 0x0d, 0x0a, 0x87, 0x0a, 0, 0])],
  ])('calls %s an unsupported image', async (_name, input) => {
    const bytes = typeof input === 'function' ? await input() : input;
    expect(sniffImageFormat(bytes)).toBe('unsupported-image');
  });

  it.each<[string, string]>([
    ['HTML', '<!DOCTYPE html>\n<html><head><title>Not found</title></head><body></body></html>'],
    ['HTML with inline SVG', '<!doctype html><html><body><svg viewBox="0 0 1 1"></svg></body></html>'],
    ['XHTML', '<?xml version="1.0"?>\n<html xmlns="http://www.w3.org/1999/xhtml"><svg/></html>'],
    ['JSON', '{"error":"not found"}'],
    ['plain text', 'BM is not a bitmap without a header'],
    ['empty body', ''],
    ['MP4 video', ftyp('isom', ['isom', 'mp41']).toString('latin1')],
    ['RIFF audio', 'RIFF\x24\x00\x00\x00WAVEfmt '],
  ])('calls %s not an image', (_name, text) => {
    expect(sniffImageFormat(Buffer.from(text, 'latin1'))).toBeNull();
  });

  it('needs the whole JPEG signature', () => {
    expect(sniffImageFormat(Buffer.from([0xff, 0xd8]))).toBeNull();
  });
});

describe('EXTENSION', () => {
  it('maps every format to its usual file extension', () => {
    expect(EXTENSION).toEqual({ jpeg: 'jpg', png: 'png', gif: 'gif', webp: 'webp', avif: 'avif' });
  });
});

/** File header plus the start of a BITMAPINFOHEADER (size 40). */
function bmpHeader(): Buffer {
  const bytes = Buffer.alloc(26);
  bytes.write('BM', 0, 'latin1');
  bytes.writeUInt32LE(bytes.length, 2);
  bytes.writeUInt32LE(40, 14);
  bytes.writeInt32LE(1, 18);
  bytes.writeInt32LE(1, 22);
  return bytes;
}
