import { exportRequest } from '@pixbatch/sdk';
import { useState } from 'react';
import { call } from '../api/client';
import { plannedOperation, type PlannedOperation } from '../api/operations';
import { ApiProblem, toProblem } from '../api/problem';
import { useRequestProgress } from '../api/use-request-progress';
import { ProblemView } from '../components/problem-view';
import { ProgressBar } from '../components/progress-bar';
import { resultFilename, saveBlob } from '../download';
import { describeImageError, formatDuration, formatRate } from '../format';
import { navigate } from '../router';
import { ProductsTable } from './products-table';
import { WebhookLog } from './webhook-log';

// Keyed by string: `cancelled` arrives with the request-lifecycle endpoints.
const STATUS_TEXT: Record<string, string> = {
  pending: 'Waiting to start',
  processing: 'Processing',
  completed: 'Completed',
  completed_with_errors: 'Completed, some images failed',
  failed: 'Failed',
  cancelled: 'Cancelled',
};

export function statusText(status: string): string {
  return STATUS_TEXT[status] ?? status;
}

/** One request, live: progress, actions, failed images, products and webhook deliveries. */
export function RequestView({ id }: { id: string }) {
  const { status, throughput, source, problem, reload } = useRequestProgress(id);
  const [actionProblem, setActionProblem] = useState<ApiProblem | null>(null);
  const [busy, setBusy] = useState<string | null>(null);

  if (!status) {
    return problem ? <ProblemView problem={problem} /> : <p aria-live="polite">Loading request…</p>;
  }
  const { images, products } = status.counts;

  const run = async (label: string, action: () => Promise<void>) => {
    setBusy(label);
    setActionProblem(null);
    try {
      await action();
    } catch (error) {
      setActionProblem(toProblem(error));
    } finally {
      setBusy(null);
    }
  };

  const downloadCsv = () =>
    run('csv', async () => {
      const blob = await call(exportRequest({ path: { id }, parseAs: 'blob' }));
      saveBlob(blob as unknown as Blob, resultFilename(status.originalFilename));
    });

  const archive = plannedOperation('downloadArchive');
  const downloadZip = () =>
    run('zip', async () => {
      if (!archive) return;
      const blob = await call(archive({ path: { id }, parseAs: 'blob' }));
      saveBlob(blob as Blob, resultFilename(status.originalFilename).replace(/\.csv$/, '.zip'));
    });

  /** A lifecycle action; until its endpoint exists the button stays disabled and says why. */
  const lifecycle = (operation: PlannedOperation, label: string, confirmText?: string) => {
    const sdkCall = plannedOperation(operation);
    const onClick = () => {
      if (!sdkCall || (confirmText && !confirm(confirmText))) return;
      void run(label, async () => {
        await call(sdkCall({ path: { id } }));
        if (operation === 'deleteRequest') navigate('/requests');
        else reload();
      });
    };
    return (
      <button
        type="button"
        onClick={onClick}
        disabled={!sdkCall || busy !== null}
        aria-describedby={sdkCall ? undefined : 'lifecycle-hint'}
        className={operation === 'deleteRequest' ? 'danger' : 'secondary'}
      >
        {label}
      </button>
    );
  };
  const lifecycleMissing = (['retryRequest', 'cancelRequest', 'deleteRequest', 'downloadArchive'] as const).some((name) => !plannedOperation(name));

  return (
    <section aria-labelledby="request-heading">
      <h1 id="request-heading">{status.originalFilename}</h1>
      <p className="muted">
        Request <code>{status.requestId}</code>
      </p>
      <div className="card">
        <p className="status-line" aria-live="polite">
          <span className={`badge status-${status.status}`}>{statusText(status.status)}</span>
          {source === 'polling' ? <span className="muted"> (updated every second)</span> : null}
        </p>
        <ProgressBar percent={status.percent} label="Images processed" />
        <dl className="stats">
          <div>
            <dt>Images</dt>
            <dd>
              {images.total - images.pending} of {images.total}
            </dd>
          </div>
          <div>
            <dt>Succeeded</dt>
            <dd>{images.succeeded}</dd>
          </div>
          <div>
            <dt>Failed</dt>
            <dd>{images.failed}</dd>
          </div>
          <div>
            <dt>Products</dt>
            <dd>
              {products.processed} of {products.total}
            </dd>
          </div>
          <div>
            <dt>Speed</dt>
            <dd>{status.completed ? '–' : formatRate(throughput.imagesPerSecond)}</dd>
          </div>
          <div>
            <dt>Time left</dt>
            <dd>{status.completed ? 'Done' : formatDuration(throughput.etaSeconds)}</dd>
          </div>
        </dl>
        <div className="actions">
          <button type="button" onClick={downloadCsv} disabled={!status.completed || busy !== null}>
            Download result CSV
          </button>
          <button
            type="button"
            className="secondary"
            onClick={downloadZip}
            disabled={!archive || !status.completed || busy !== null}
            aria-describedby={archive ? undefined : 'lifecycle-hint'}
          >
            Download images (ZIP)
          </button>
          {lifecycle('retryRequest', 'Retry failed')}
          {lifecycle('cancelRequest', 'Cancel')}
          {lifecycle('deleteRequest', 'Delete', 'Delete this request, its results and its images? This cannot be undone.')}
        </div>
        {lifecycleMissing ? (
          <p id="lifecycle-hint" className="hint">
            The ZIP download, retry, cancel and delete arrive with the next version of the API.
          </p>
        ) : null}
        {actionProblem ? <ProblemView problem={actionProblem} /> : null}
        {problem ? <ProblemView problem={problem} /> : null}
      </div>
      {status.errors.length > 0 ? (
        <section className="card" aria-labelledby="failed-heading">
          <h2 id="failed-heading">Failed images</h2>
          <ul className="failures">
            {status.errors.map((failure) => (
              <li key={`${failure.row}-${failure.url}`}>
                <p>
                  <strong>{failure.productName}</strong> (row {failure.row}): {describeImageError(failure.code)}
                </p>
                <p className="muted">
                  <code>{failure.code}</code> {failure.message} ·{' '}
                  <a href={failure.url} target="_blank" rel="noreferrer noopener">
                    original
                  </a>
                </p>
              </li>
            ))}
          </ul>
        </section>
      ) : null}
      <ProductsTable requestId={id} refreshKey={`${status.status}:${images.total - images.pending}`} />
      {status.webhook ? <WebhookLog requestId={id} webhook={status.webhook} onRedelivered={reload} /> : null}
    </section>
  );
}
