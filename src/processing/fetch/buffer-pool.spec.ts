import { BufferPool } from './buffer-pool.js';

const KIB = 1024;

describe('BufferPool', () => {
  it('hands out buffers of exactly the requested length', () => {
    const pool = new BufferPool(4 * 1024 * KIB, 1024 * KIB);
    expect(pool.acquire(1000).length).toBe(1000);
    expect(pool.acquire(300 * KIB).length).toBe(300 * KIB);
  });

  it('reuses the memory of a released buffer for a later one that fits', () => {
    const pool = new BufferPool(4 * 1024 * KIB, 1024 * KIB);
    const first = pool.acquire(200 * KIB);
    pool.release(first);

    const second = pool.acquire(250 * KIB);

    expect(second.buffer).toBe(first.buffer);
  });

  it('never hands the memory of a buffer still lent to another caller', () => {
    const pool = new BufferPool(4 * 1024 * KIB, 1024 * KIB);
    const first = pool.acquire(100 * KIB);
    const second = pool.acquire(100 * KIB);

    expect(second.buffer).not.toBe(first.buffer);
    first.fill(1);
    second.fill(2);
    expect(first.every((byte) => byte === 1)).toBe(true);
  });

  it('takes a buffer back once, however often it is released', () => {
    const pool = new BufferPool(4 * 1024 * KIB, 1024 * KIB);
    const lent = pool.acquire(100 * KIB);
    pool.release(lent);
    pool.release(lent);

    const a = pool.acquire(100 * KIB);
    const b = pool.acquire(100 * KIB);

    expect(a.buffer).not.toBe(b.buffer);
  });

  it('does not pool buffers above the per-buffer limit', () => {
    const pool = new BufferPool(4 * 1024 * KIB, 256 * KIB);
    const large = pool.acquire(300 * KIB);
    pool.release(large);

    expect(pool.acquire(300 * KIB).buffer).not.toBe(large.buffer);
  });

  it('keeps no more idle memory than its limit', () => {
    const pool = new BufferPool(256 * KIB, 256 * KIB);
    const a = pool.acquire(256 * KIB);
    const b = pool.acquire(256 * KIB);
    pool.release(a);
    pool.release(b);

    const reused = [pool.acquire(256 * KIB), pool.acquire(256 * KIB)].map((buffer) => buffer.buffer);

    expect(reused).toContain(a.buffer);
    expect(reused).not.toContain(b.buffer);
  });

  it('ignores buffers it did not lend', () => {
    const pool = new BufferPool(4 * 1024 * KIB, 1024 * KIB);
    const foreign = Buffer.alloc(100 * KIB);
    pool.release(foreign);

    expect(pool.acquire(100 * KIB).buffer).not.toBe(foreign.buffer);
  });
});
