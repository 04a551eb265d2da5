export function ProgressBar({ percent, label }: { percent: number; label: string }) {
  const value = Math.max(0, Math.min(100, Math.round(percent)));
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
        <div className="progress-fill" style={{ width: `${value}%` }} />
      </div>
      {/* Beside the bar, not on it: text over a half-filled bar cannot keep its contrast. */}
      <span className="progress-text" aria-hidden="true">
        {value} %
      </span>
    </div>
  );
}
