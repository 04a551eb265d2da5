import { deleteRequest, exportRequest } from '@pixbatch/sdk';
import { useEffect, useRef, useState } from 'react';
import { call } from '../api/client';
import { plannedOperation } from '../api/operations';
import { ApiProblem, toProblem } from '../api/problem';
import { useRequestProgress } from '../api/use-request-progress';
import { ProblemView } from '../components/problem-view';
import { ProgressBar } from '../components/progress-bar';
import { resultFilename, saveBlob } from '../download';
import { describeImageError, formatDuration, formatRate } from '../format';
import { navigate } from '../router';
import { PausedHostsNotice } from './paused-hosts-notice';
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

/** One request, live: progress, paused source hosts, actions, failed images, products and webhook deliveries. */
export function RequestView({ id }: { id: string }) {
  const { status, throughput, source, problem, reload } = useRequestProgress(id);
  const [actionProblem, setActionProblem] = useState<ApiProblem | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [confirmingDelete, setConfirmingDelete] = useState(false);

  if (!status) {
    return problem ? <ProblemView problem={problem} /> : <p aria-live="polite">Loading request…</p>;
  }
  const { images, products } = status.counts;
  // Cancelled images are counted once the API can cancel (request-lifecycle); retry takes them too.
  const cancelledImages = (images as { cancelled?: number }).cancelled ?? 0;

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

  /** Cancel and retry: until their endpoint exists the button stays disabled and says why. */
  const lifecycle = (operation: 'retryRequest' | 'cancelRequest', label: string, allowed: boolean) => {
    const sdkCall = plannedOperation(operation);
    const onClick = () => {
      if (!sdkCall) return;
      void run(label, async () => {
        await call(sdkCall({ path: { id } }));
        reload();
      });
    };
    return (
      <button
        type="button"
        onClick={onClick}
        disabled={!sdkCall || !allowed || busy !== null}
        aria-describedby={sdkCall ? undefined : 'lifecycle-hint'}
        className="secondary"
      >
        {label}
      </button>
    );
  };
  const lifecycleMissing = (['retryRequest', 'cancelRequest', 'downloadArchive'] as const).some(
    (name) => !plannedOperation(name),
  );
  const remove = () =>
    run('delete', async () => {
      await call(deleteRequest({ path: { id } }));
      navigate('/requests');
    });

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
        <PausedHostsNotice hosts={status.completed ? [] : status.pausedHosts} />
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
          <button type="button" onClick={() => void downloadCsv()} disabled={!status.completed || busy !== null}>
            Download result CSV
          </button>
          <button
            type="button"
            className="secondary"
            onClick={() => void downloadZip()}
            disabled={!archive || !status.completed || busy !== null}
            aria-describedby={archive ? undefined : 'lifecycle-hint'}
          >
            Download images (ZIP)
          </button>
          {lifecycle('retryRequest', 'Retry failed', status.completed && images.failed + cancelledImages > 0)}
          {lifecycle('cancelRequest', 'Cancel', !status.completed)}
          <button
            type="button"
            className="danger"
            onClick={() => setConfirmingDelete(true)}
            disabled={!status.completed || confirmingDelete || busy !== null}
            aria-describedby={status.completed ? undefined : 'delete-hint'}
          >
            Delete
          </button>
        </div>
        {status.completed ? null : (
          <p id="delete-hint" className="hint">
            A request can be deleted once it has finished{plannedOperation('cancelRequest') ? ' or been cancelled' : ''}
            .
          </p>
        )}
        {confirmingDelete ? (
          <ConfirmDelete
            busy={busy === 'delete'}
            onConfirm={() => void remove()}
            onKeep={() => setConfirmingDelete(false)}
          />
        ) : null}
        {lifecycleMissing ? (
          <p id="lifecycle-hint" className="hint">
            The ZIP download, retry and cancel arrive with the next version of the API.
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

/**
 * The in-page confirmation for Delete (not window.confirm, which a screen reader
 * user meets out of context): focus moves to it, Escape or "Keep it" backs out.
 */
function ConfirmDelete({ busy, onConfirm, onKeep }: { busy: boolean; onConfirm: () => void; onKeep: () => void }) {
  const confirmButton = useRef<HTMLButtonElement>(null);
  useEffect(() => confirmButton.current?.focus(), []);
  return (
    <div
      className="confirm"
      role="alertdialog"
      aria-labelledby="confirm-delete-text"
      onKeyDown={(event) => {
        if (event.key === 'Escape') onKeep();
      }}
    >
      <p id="confirm-delete-text">
        Delete this request, its result CSV and its output images? Their links stop working. This cannot be undone.
      </p>
      <div className="actions">
        <button ref={confirmButton} type="button" className="danger" onClick={onConfirm} disabled={busy}>
          Yes, delete it
        </button>
        <button type="button" className="secondary" onClick={onKeep} disabled={busy}>
          Keep it
        </button>
      </div>
    </div>
  );
}
