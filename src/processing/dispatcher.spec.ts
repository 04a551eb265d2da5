import { MAX_CHUNK_GROWTH, chunkSizeFor } from './dispatcher.js';

describe('chunkSizeFor', () => {
  /** Many images still waiting, so that the taper does not come in. */
  const PLENTY = 1_000_000;
  const size = (imagesDone: number, imagesCopied: number) =>
    chunkSizeFor({ imagesDone, imagesCopied, imagesWaiting: PLENTY }, 8, 4);

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

  it("spreads a request's last waiting images over the lanes once fewer than a chunk per lane wait", () => {
    // As a pass leases them: 70 waiting, chunks of 16, 4 lanes.
    const sizes: number[] = [];
    for (let waiting = 70; waiting > 0;) {
      const next = chunkSizeFor({ imagesDone: 0, imagesCopied: 0, imagesWaiting: waiting }, 16, 4);
      sizes.push(next);
      waiting -= next;
    }
    expect(sizes).toEqual([16, 14, 10, 8, 6, 4, 3, 3, 2, 1, 1, 1, 1]);
  });

  it('tapers grown chunks the same way, and never asks for fewer than one image', () => {
    const copied = { imagesDone: 1000, imagesCopied: 1000 };
    expect(chunkSizeFor({ ...copied, imagesWaiting: 200 }, 8, 4)).toBe(32);
    expect(chunkSizeFor({ ...copied, imagesWaiting: 100 }, 8, 4)).toBe(25);
    // An estimate at nought still leases: the lease finds what is really there.
    expect(chunkSizeFor({ imagesDone: 0, imagesCopied: 0, imagesWaiting: 0 }, 8, 4)).toBe(1);
  });
});
