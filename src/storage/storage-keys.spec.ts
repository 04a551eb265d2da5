import { ImageNames, imageKey, isPublicKey, isSafeKey, newPublicToken, requestPrefix, slug } from './storage-keys.js';

describe('slug', () => {
  it.each([
    ['Red Shoes', 'red-shoes'],
    ['Café au lait mug', 'cafe-au-lait-mug'],
    ['Tea; green, loose | 100g', 'tea-green-loose-100g'],
    ['  --Ünïcödé--  ', 'unicode'],
    ['日本 teapot', 'teapot'],
    ['日本', ''],
    ['../../etc/passwd', 'etc-passwd'],
    ['SKU_17/B', 'sku-17-b'],
  ])('%j → %j', (text, expected) => {
    expect(slug(text, 60)).toBe(expected);
  });

  it('cuts a long text between words where one is near, never ending in "-"', () => {
    expect(slug('The quick brown fox jumps over the lazy dog', 20)).toBe('the-quick-brown-fox');
    expect(slug('a'.repeat(100), 20)).toBe('a'.repeat(20));
    expect(slug('abcdefghijklmnopqrs tuvw', 20)).toBe('abcdefghijklmnopqrs');
  });
});

describe('ImageNames', () => {
  it('names images by serial number, product name and position from 1', () => {
    const names = new ImageNames();
    expect(names.forProduct('12', 'Red Shoes', 2)).toEqual(['12-red-shoes-1', '12-red-shoes-2']);
    expect(names.forProduct('13', 'Blue Shoes', 1)).toEqual(['13-blue-shoes-1']);
    expect(names.forProduct('14', 'Empty', 0)).toEqual([]);
  });

  it('keeps names unique when slugs collide, however the serial numbers and names split into words', () => {
    const names = new ImageNames();
    const all = [
      ...names.forProduct('A 1', 'Shoe', 3),
      ...names.forProduct('a-1', 'shoe', 3),
      ...names.forProduct('A_1', 'SHOE', 3),
      // The suffix a collision added could be another product's own stem.
      ...names.forProduct('a-1-shoe', '2', 3),
      ...names.forProduct('1', 'red shoes', 12),
      ...names.forProduct('1-red', 'shoes', 12),
      ...names.forProduct('1 red shoes', '', 12),
      ...names.forProduct('日本', '日本', 2),
      ...names.forProduct('中国', '中国', 2),
    ];
    expect(new Set(all).size).toBe(all.length);
    expect(all.slice(0, 6)).toEqual([
      'a-1-shoe-1',
      'a-1-shoe-2',
      'a-1-shoe-3',
      'a-1-shoe-2-1',
      'a-1-shoe-2-2',
      'a-1-shoe-2-3',
    ]);
    expect(all.slice(-4)).toEqual(['image-1', 'image-2', 'image-2-1', 'image-2-2']);
  });

  it('bounds the length and makes keys that are safe and public', () => {
    const names = new ImageNames();
    const [name] = names.forProduct('9'.repeat(200), 'Ω'.repeat(50) + ' very long product name '.repeat(20), 1);
    expect(name.length).toBeLessThanOrEqual(32 + 1 + 60 + 2);
    const token = newPublicToken();
    const key = imageKey({ id: '0b9f3c1e-8a55-4c1f-9d55-0a6f1d0c2b11', publicToken: token }, 'unused', 'jpg', name);
    expect(key).toMatch(new RegExp(`^images/${token}/9+-very-long-product-name[a-z-]*-1\\.jpg$`));
    expect(isSafeKey(key)).toBe(true);
    expect(isPublicKey(key)).toBe(true);
  });

  it('keeps the image id in keys of images stored before names existed', () => {
    expect(imageKey({ id: 'r', publicToken: 't' }, 'i', 'png')).toBe('images/t/i.png');
    expect(imageKey({ id: 'r', publicToken: 't' }, 'i', 'png', '12-red-shoes-2')).toBe('images/t/12-red-shoes-2.png');
  });

  it('names a folder by the public token: 32 hex characters, a fresh one each time', () => {
    const tokens = new Set(Array.from({ length: 100 }, newPublicToken));
    expect(tokens.size).toBe(100);
    for (const token of tokens) expect(token).toMatch(/^[0-9a-f]{32}$/);
  });

  it('keeps the request id as the folder of requests stored before tokens', () => {
    expect(requestPrefix({ id: 'r', publicToken: null })).toBe('images/r/');
    expect(requestPrefix({ id: 'r', publicToken: 't' })).toBe('images/t/');
  });
});
