import { PassThrough } from 'node:stream';
import type { RequestStatusDto } from '../../clients/typescript/src/index.js';
import { formatBar, formatDuration, formatLine, formatRerun, ProgressMeter, progressView } from './progress.js';

function status(
  succeeded: number,
  failed: number,
  total: number,
  state = 'processing',
  cancelled = 0,
): RequestStatusDto {
  return {
    status: state,
    counts: {
      images: { total, succeeded, failed, cancelled, pending: total - succeeded - failed - cancelled },
      products: { total: 1, processed: 0 },
    },
  } as RequestStatusDto;
}

function clock(...times: number[]): () => number {
  return () => times.shift()!;
}

describe('ProgressMeter', () => {
  it('reports no rate or ETA until an image finishes while watching', () => {
    const meter = new ProgressMeter(clock(0, 2000));
    expect(meter.measure(status(0, 0, 10))).toMatchObject({ done: 0, rate: null, etaSeconds: null });
    expect(meter.measure(status(0, 0, 10))).toMatchObject({ rate: null, etaSeconds: null });
  });

  it('counts cancelled images as done, apart from failed ones', () => {
    const meter = new ProgressMeter(clock(0));
    expect(meter.measure(status(1, 1, 10, 'cancelled', 8))).toMatchObject({ status: 'cancelled', done: 10, failed: 1 });
  });

  it('counts only images finished since it started watching', () => {
    // 40 of 100 were done before we attached; 10 more in 5 s is 2 img/s, and 50 left take 25 s.
    const meter = new ProgressMeter(clock(10_000, 15_000));
    meter.measure(status(40, 0, 100));
    expect(meter.measure(status(45, 5, 100))).toEqual({
      status: 'processing',
      done: 50,
      total: 100,
      failed: 5,
      rate: 2,
      etaSeconds: 25,
    });
  });
});

describe('formatting', () => {
  const half = { status: 'processing', done: 6, total: 12, failed: 1, rate: 3, etaSeconds: 2 };

  it('draws a bar with counts, rate and ETA', () => {
    expect(formatBar(half, 10)).toBe('█████░░░░░ 6/12 images (1 failed) 50% · 3.0 img/s · ETA 2.0s');
    expect(formatBar({ ...half, done: 12, etaSeconds: 0 }, 10)).toMatch(/^██████████ 12\/12 images .* 100% .* done$/);
  });

  it('writes plain lines for logs', () => {
    expect(formatLine(half)).toBe('processing: 6/12 images (50%, 1 failed), 3.0 img/s, ETA 2.0s');
    expect(formatLine({ ...half, failed: 0, rate: null, etaSeconds: null })).toBe(
      'processing: 6/12 images (50%), – img/s, ETA –',
    );
  });

  it('treats an empty request as done', () => {
    expect(formatLine({ status: 'completed', done: 0, total: 0, failed: 0, rate: null, etaSeconds: null })).toContain(
      '(100%)',
    );
  });

  it('names what a re-run copied, and only the kinds that happened', () => {
    expect(formatRerun({ fetched: 150, revalidated: 2700, reused: 150 })).toBe(
      'Re-run: 2850 unchanged, copied instead of compressed again ' +
        '(2700 confirmed by the image host, 150 downloaded with the same bytes), 150 fetched anew',
    );
    expect(formatRerun({ fetched: 0, revalidated: 0, reused: 1 })).toBe(
      'Re-run: 1 unchanged, copied instead of compressed again (1 downloaded with the same bytes), 0 fetched anew',
    );
    // A first upload, or one with reuse off: nothing to say about re-runs.
    expect(formatRerun({ fetched: 3, revalidated: 0, reused: 0 })).toBeNull();
  });

  it.each([
    [0.44, '0.4s'],
    [9.96, '10s'],
    [59, '59s'],
    [65, '1m05s'],
    [3 * 3600 + 7 * 60, '3h07m'],
  ])('formats %p seconds as %p', (seconds, text) => {
    expect(formatDuration(seconds)).toBe(text);
  });
});

describe('progressView', () => {
  function capture(isTTY: boolean) {
    const stream = Object.assign(new PassThrough(), { isTTY });
    let output = '';
    stream.on('data', (chunk: Buffer) => (output += chunk.toString()));
    return { stream, output: () => output };
  }
  const at = (done: number, state = 'processing') => ({
    status: state,
    done,
    total: 4,
    failed: 0,
    rate: null,
    etaSeconds: null,
  });

  it('redraws one line in place on a terminal and ends it with a newline', () => {
    const { stream, output } = capture(true);
    const view = progressView(stream);
    view.update(at(1));
    view.update(at(2));
    view.finish();
    // eslint-disable-next-line no-control-regex -- the line ends with the terminal's erase-line escape, ESC [K
    expect(output()).toMatch(/^\r.* 1\/4 images .*\x1b\[K\r.* 2\/4 images .*\x1b\[K\n$/);
  });

  it('prints a line only when the count or the status changes elsewhere', () => {
    const { stream, output } = capture(false);
    const view = progressView(stream);
    for (const done of [0, 0, 1, 1, 4]) view.update(at(done));
    view.update(at(4, 'completed'));
    view.finish();
    expect(output().split('\n').filter(Boolean)).toEqual([
      'processing: 0/4 images (0%), – img/s, ETA –',
      'processing: 1/4 images (25%), – img/s, ETA –',
      'processing: 4/4 images (100%), – img/s, done',
      'completed: 4/4 images (100%), – img/s, done',
    ]);
  });
});
