import type { ImageCountsDto, RequestStatus } from '@pixbatch/sdk';

/**
 * The bar's fill says the outcome, not only the amount: green only for a request
 * that completed cleanly, amber with errors, red when it failed, grey when cancelled.
 * The status badge beside it says the same in words, so colour is never the only cue.
 * A cancelled request's bar shows the share that was processed: the server's percent
 * counts cancelled images as finished, which would read as a full bar for work never done.
 */
export function ProgressBar({
  percent,
  images,
  label,
  status,
}: {
  percent: number;
  images: ImageCountsDto;
  label: string;
  status: RequestStatus;
}) {
  const shown =
    status === 'cancelled' && images.total > 0 ? ((images.succeeded + images.failed) * 100) / images.total : percent;
  const value = Math.max(0, Math.min(100, Math.round(shown)));
  return (
    <div className="progress">
      <div
        className="progress-track"
        role="progressbar"
        aria-label={label}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={value}
      >
        <div className={`progress-fill fill-${status}`} style={{ width: `${value}%` }} />
      </div>
      {/* Beside the bar, not on it: text over a half-filled bar cannot keep its contrast. */}
      <span className="progress-text" aria-hidden="true">
        {value} %
      </span>
    </div>
  );
}
