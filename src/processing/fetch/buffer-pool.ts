/**
 * Reusable download buffers. Every freshly allocated Buffer is external memory
 * to V8, and external memory is what made the worker run a full mark-compact
 * of its whole heap every dozen images or so (bench/README.md); a buffer that
 * goes back to the pool and serves the next download allocates nothing.
 *
 * A lent buffer must not be touched after release(): the next acquire() may
 * hand its memory to another download.
 */
export class BufferPool {
  private readonly free: Buffer[] = [];
  private readonly lent = new WeakMap<ArrayBufferLike, Buffer>();
  private pooledBytes = 0;

  /**
   * @param maxPooledBytes idle buffers kept, in total; the rest are left to the GC
   * @param maxBufferBytes larger requests get a one-off allocation
   */
  constructor(
    private readonly maxPooledBytes: number,
    private readonly maxBufferBytes: number,
  ) {}

  /** A buffer of exactly `length` bytes, with unspecified contents. */
  acquire(length: number): Buffer {
    if (length > this.maxBufferBytes) return Buffer.allocUnsafeSlow(length);
    // First fit among a handful of idle buffers; sizes cluster, so any fit is good.
    const index = this.free.findIndex((buffer) => buffer.length >= length);
    let backing: Buffer;
    if (index === -1) {
      // Rounded up so that slightly larger images later still fit.
      backing = Buffer.allocUnsafeSlow(Math.min(this.maxBufferBytes, roundUp(length, 256 * 1024)));
    } else {
      backing = this.free.splice(index, 1)[0]!;
      this.pooledBytes -= backing.length;
    }
    const view = backing.subarray(0, length);
    this.lent.set(view.buffer, backing);
    return view;
  }

  /** Takes back a buffer from acquire(); anything else is ignored. */
  release(view: Buffer): void {
    const backing = this.lent.get(view.buffer);
    if (!backing) return;
    this.lent.delete(view.buffer);
    if (this.pooledBytes + backing.length > this.maxPooledBytes) return;
    this.free.push(backing);
    this.pooledBytes += backing.length;
  }
}

function roundUp(value: number, step: number): number {
  return Math.ceil(value / step) * step;
}
