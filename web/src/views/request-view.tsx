import { archiveRequest, cancelRequest, deleteRequest, exportRequest, retryRequest } from '@pixbatch/sdk';
import type { RequestStatusDto } from '@pixbatch/sdk';
import { useEffect, useRef, useState } from 'react';
import { call, callForFile } from '../api/client';
import { ApiProblem, toProblem } from '../api/problem';
import { useRequestProgress } from '../api/use-request-progress';
import { ProblemView } from '../components/problem-view';
import { ProgressBar } from '../components/progress-bar';
import { saveBlob } from '../download';
import { describeImageError, formatDuration, formatRate, rerunSummary } from '../format';
import { navigate } from '../router';
import { PausedHostsNotice } from './paused-hosts-notice';
import { ProductsTable } from './products-table';
import { WebhookLog } from './webhook-log';

const STATUS_TEXT: Record<RequestStatusDto['status'], string> = {
  pending: 'Waiting to start',
  processing: 'Processing',
  completed: 'Completed',
  completed_with_errors: 'Completed, some images failed',
  failed: 'Failed',
  cancelled: 'Cancelled',
};

export function statusText(status: RequestStatusDto['status']): string {
  return STATUS_TEXT[status];
}

/** What Retry takes again, named on its button: the server re-queues failed and cancelled images alike. */
function retryLabel(failed: number, cancelled: number): string {
  if (failed > 0 && cancelled > 0) return 'Retry failed and cancelled images';
  return cancelled > 0 ? 'Retry cancelled images' : 'Retry failed images';
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** One request, live: progress, paused source hosts, actions, failed images, webhook deliveries and products. */
export function RequestView({ id }: { id: string }) {
  const { status, throughput, source, problem, reload } = useRequestProgress(id);
  const [actionProblem, setActionProblem] = useState<ApiProblem | null>(null);
  // What the last action did, said in words next to the buttons (a retry's round, a cancel's count).
  const [actionNote, setActionNote] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [confirmingDelete, setConfirmingDelete] = useState(false);

  if (!status) {
    return problem ? <ProblemView problem={problem} /> : <p aria-live="polite">Loading request…</p>;
  }
  const { images, products } = status.counts;

  const run = async (label: string, action: () => Promise<void>) => {
    setBusy(label);
    setActionProblem(null);
    setActionNote(null);
    try {
      await action();
    } catch (error) {
      setActionProblem(toProblem(error));
    } finally {
      setBusy(null);
    }
  };

  // The names the server gives in Content-Disposition (`<name>-result.csv`, `<name>-images.zip`); the fallbacks
  // follow the same rule for a proxy that strips the header.
  const base = status.originalFilename.replace(/\.csv$/i, '') || 'products';
  const downloadCsv = () =>
    run('csv', async () => {
      const file = await callForFile(exportRequest({ path: { id }, parseAs: 'blob' }), `${base}-result.csv`);
      saveBlob(file.blob, file.filename);
    });
  const downloadZip = () =>
    run('zip', async () => {
      const file = await callForFile(archiveRequest({ path: { id }, parseAs: 'blob' }), `${base}-images.zip`);
      saveBlob(file.blob, file.filename);
    });

  const retry = () =>
    run('retry', async () => {
      const next = await call(retryRequest({ path: { id } }));
      const queued = next.counts.images.pending;
      setActionNote(`Retry round ${next.round} started: ${plural(queued, 'image')} queued again.`);
      reload();
    });
  const cancel = () =>
    run('cancel', async () => {
      const next = await call(cancelRequest({ path: { id } }));
      setActionNote(`Cancelled: ${plural(next.counts.images.cancelled, 'image')} will not be processed.`);
      reload();
    });
  const remove = () =>
    run('delete', async () => {
      await call(deleteRequest({ path: { id } }));
      navigate('/requests');
    });

  const retryable = images.failed + images.cancelled;
  const rerun = rerunSummary(images);
  return (
    <section aria-labelledby="request-heading">
      <h1 id="request-heading">{status.originalFilename}</h1>
      <p className="muted">
        Request <code>{status.requestId}</code>
      </p>
      <div className="card">
        <p className="status-line" aria-live="polite">
          <span className={`badge status-${status.status}`}>{statusText(status.status)}</span>
          {status.round > 0 ? <span className="round"> · retry round {status.round}</span> : null}
          {source === 'polling' ? <span className="muted"> (updated every second)</span> : null}
        </p>
        <PausedHostsNotice hosts={status.completed ? [] : status.pausedHosts} />
        <ProgressBar percent={status.percent} images={images} status={status.status} label="Images processed" />
        <dl className="stats">
          <div>
            <dt>Processed</dt>
            <dd>
              {images.succeeded + images.failed} of {images.total}
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
            <dt>Cancelled</dt>
            <dd>{images.cancelled}</dd>
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
        {rerun ? <p>{rerun}</p> : null}
        {status.options.reuse ? null : (
          <p className="muted">Reuse was off for this upload: every image is fetched and compressed anew.</p>
        )}
        <div className="actions">
          <button type="button" onClick={() => void downloadCsv()} disabled={!status.completed || busy !== null}>
            Download result CSV
          </button>
          <button
            type="button"
            className="secondary"
            onClick={() => void downloadZip()}
            disabled={!status.completed || busy !== null}
          >
            Download images (ZIP)
          </button>
          {status.completed && retryable > 0 ? (
            <button type="button" className="secondary" onClick={() => void retry()} disabled={busy !== null}>
              {retryLabel(images.failed, images.cancelled)}
            </button>
          ) : null}
          {status.completed ? null : (
            <button type="button" className="secondary" onClick={() => void cancel()} disabled={busy !== null}>
              Cancel
            </button>
          )}
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
            A request can be deleted once it has finished or been cancelled.
          </p>
        )}
        <p className="action-note" role="status">
          {actionNote}
        </p>
        {confirmingDelete ? (
          <ConfirmDelete
            busy={busy === 'delete'}
            onConfirm={() => void remove()}
            onKeep={() => setConfirmingDelete(false)}
          />
        ) : null}
        {actionProblem ? <ProblemView problem={actionProblem} takeFocus /> : null}
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
      {/* Above the products: a catalogue of hundreds would otherwise push the log out of reach. */}
      {status.webhook ? (
        <WebhookLog requestId={id} webhook={status.webhook} round={status.round} completed={status.completed} />
      ) : null}
      <ProductsTable requestId={id} refreshKey={`${status.status}:${status.round}:${images.total - images.pending}`} />
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
