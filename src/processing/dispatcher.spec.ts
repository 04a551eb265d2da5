import { MAX_CHUNK_GROWTH, chunkSizeFor } from './dispatcher.js';

describe('chunkSizeFor', () => {
  const size = (imagesDone: number, imagesCopied: number) => chunkSizeFor({ imagesDone, imagesCopied }, 8);

  it('gives CHUNK_SIZE to a request with no outcomes yet, or fewer than a chunk', () => {
    expect(size(0, 0)).toBe(8);
    expect(size(7, 7)).toBe(8);
  });

  it('gives CHUNK_SIZE to a request whose images were encoded (a first run), failures included', () => {
    expect(size(600, 0)).toBe(8);
    expect(size(600, 30)).toBe(8);
  });

  it('grows the chunks of a re-run with its share of copies, up to MAX_CHUNK_GROWTH', () => {
    expect(size(1000, 500)).toBe(15);
    expect(size(1000, 800)).toBe(32);
    expect(size(3000, 2850)).toBe(8 * MAX_CHUNK_GROWTH);
    expect(size(1000, 1000)).toBe(8 * MAX_CHUNK_GROWTH);
  });
});
