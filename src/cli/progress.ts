import type { RequestStatusDto } from '../../clients/typescript/src/index.js';

/** What progress needs: a status answer, or a `progress` event of the event stream. */
export interface StatusCounts {
  status: RequestStatusDto['status'];
  counts: { images: Pick<RequestStatusDto['counts']['images'], 'total' | 'succeeded' | 'failed' | 'cancelled'> };
}

export interface Progress {
  status: string;
  done: number;
  total: number;
  failed: number;
  /** Images per second since waiting began; null until one has finished meanwhile. */
  rate: number | null;
  etaSeconds: number | null;
}

/**
 * Turns successive status answers into progress with a rate and an ETA. The
 * rate counts only images finished while we watched, so attaching to a
 * half-done request does not report its earlier work as speed.
 */
export class ProgressMeter {
  private start?: { at: number; done: number };

  constructor(private readonly now: () => number = Date.now) {}

  measure(status: StatusCounts): Progress {
    const { total, succeeded, failed, cancelled } = status.counts.images;
    const done = succeeded + failed + cancelled;
    const at = this.now();
    this.start ??= { at, done };
    const seconds = (at - this.start.at) / 1000;
    const rate = seconds > 0 && done > this.start.done ? (done - this.start.done) / seconds : null;
    const etaSeconds = rate ? (total - done) / rate : null;
    return { status: status.status, done, total, failed, rate, etaSeconds };
  }
}

export function formatDuration(seconds: number): string {
  // Tenths while they still mean something: a small batch ends in well under a second.
  if (seconds < 9.95) return `${Math.max(0, seconds).toFixed(1)}s`;
  const whole = Math.round(seconds);
  if (whole < 60) return `${whole}s`;
  const minutes = Math.floor(whole / 60);
  if (minutes < 60) return `${minutes}m${String(whole % 60).padStart(2, '0')}s`;
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
}

function percent(progress: Progress): number {
  return progress.total === 0 ? 100 : Math.floor((progress.done / progress.total) * 100);
}

function rateAndEta(progress: Progress): [string, string] {
  const rate = progress.rate === null ? '– img/s' : `${progress.rate.toFixed(1)} img/s`;
  const eta =
    progress.done === progress.total
      ? 'done'
      : progress.etaSeconds === null
        ? 'ETA –'
        : `ETA ${formatDuration(progress.etaSeconds)}`;
  return [rate, eta];
}

/**
 * What a re-run saved, e.g. "Re-run: 2850 unchanged, copied instead of compressed again (2700 confirmed by
 * the image host, 150 downloaded with the same bytes), 150 fetched anew"; null when nothing was copied.
 */
export function formatRerun(
  images: Pick<RequestStatusDto['counts']['images'], 'fetched' | 'revalidated' | 'reused'>,
): string | null {
  const unchanged = images.revalidated + images.reused;
  if (unchanged === 0) return null;
  const how = [
    images.revalidated > 0 ? `${images.revalidated} confirmed by the image host` : null,
    images.reused > 0 ? `${images.reused} downloaded with the same bytes` : null,
  ].filter((part) => part !== null);
  const copied = `Re-run: ${unchanged} unchanged, copied instead of compressed again (${how.join(', ')})`;
  return `${copied}, ${images.fetched} fetched anew`;
}

/** One line redrawn in place on a terminal. */
export function formatBar(progress: Progress, width = 30): string {
  const filled = progress.total === 0 ? width : Math.floor((progress.done / progress.total) * width);
  const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
  const failed = progress.failed > 0 ? ` (${progress.failed} failed)` : '';
  return `${bar} ${progress.done}/${progress.total} images${failed} ${percent(progress)}% · ${rateAndEta(progress).join(' · ')}`;
}

/** One line per change, for logs and pipes. */
export function formatLine(progress: Progress): string {
  const failed = progress.failed > 0 ? `, ${progress.failed} failed` : '';
  return `${progress.status}: ${progress.done}/${progress.total} images (${percent(progress)}%${failed}), ${rateAndEta(progress).join(', ')}`;
}

export interface ProgressView {
  update(progress: Progress): void;
  /** Leaves the cursor on a fresh line for whatever is printed next. */
  finish(): void;
}

/** A live bar on a terminal; elsewhere a plain line whenever the count or status changes. */
export function progressView(stream: NodeJS.WritableStream & { isTTY?: boolean }): ProgressView {
  if (stream.isTTY) {
    let drawn = false;
    return {
      update(progress) {
        // \r returns to the line start; ESC[K clears what a longer previous line left behind.
        stream.write(`\r${formatBar(progress)}\x1b[K`);
        drawn = true;
      },
      finish() {
        if (drawn) stream.write('\n');
        drawn = false;
      },
    };
  }
  let last = '';
  return {
    update(progress) {
      const key = `${progress.status} ${progress.done}`;
      if (key === last) return;
      last = key;
      stream.write(`${formatLine(progress)}\n`);
    },
    finish() {},
  };
}
