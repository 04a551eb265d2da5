import { listProducts, type ImageObtained, type ImageStatus, type ProductPageDto } from '@pixbatch/sdk';
import { useEffect, useState } from 'react';
import { call } from '../api/client';
import { ApiProblem, toProblem } from '../api/problem';
import { ProblemView } from '../components/problem-view';
import { describeImageError, formatBytes, formatSaving, plural } from '../format';

const PAGE_SIZE = 20;

/**
 * The request's products, a page at a time, each image with its output
 * thumbnail (lazy-loaded from /files), sizes before and after, and the original.
 * `refreshKey` changes as the request progresses, so finished images appear.
 */
/** What an image without an outcome is doing; a cancelled one says so, not the same "…" as one in work. */
const IMAGE_STATE: Record<ImageStatus, string> = {
  pending: 'Waiting',
  processing: 'Processing…',
  succeeded: 'Done',
  failed: 'Failed',
  cancelled: 'Cancelled before it was processed',
};

/** Said under a succeeded image that was copied from an earlier upload; a fetched one needs no note. */
const OBTAINED_NOTE: Partial<Record<ImageObtained, string>> = {
  revalidated: 'Copied: unchanged, confirmed by the image host',
  reused: 'Copied: unchanged, the same bytes as before',
};

export function ProductsTable({ requestId, refreshKey }: { requestId: string; refreshKey: string }) {
  const [page, setPage] = useState(1);
  const [data, setData] = useState<ProductPageDto | null>(null);
  const [problem, setProblem] = useState<ApiProblem | null>(null);

  useEffect(() => {
    const abort = new AbortController();
    call(listProducts({ path: { id: requestId }, query: { page, pageSize: PAGE_SIZE }, signal: abort.signal }))
      .then((next) => {
        setData(next);
        setProblem(null);
      })
      .catch((error: unknown) => {
        if (!abort.signal.aborted) setProblem(toProblem(error));
      });
    return () => abort.abort();
  }, [requestId, page, refreshKey]);

  const pages = data ? Math.max(1, Math.ceil(data.total / data.pageSize)) : 1;
  return (
    <section className="card" aria-labelledby="products-heading">
      <h2 id="products-heading">Products</h2>
      {problem ? <ProblemView problem={problem} /> : null}
      {data ? (
        <>
          <ul className="products">
            {data.items.map((product) => (
              <li key={product.row} className="product">
                <h3>
                  {product.name} <span className="muted">· S. No. {product.serialNumber}</span>
                </h3>
                <ul className="images">
                  {product.images.map((image) => (
                    <li key={image.position} className={`image image-${image.status}`}>
                      {image.outputUrl ? (
                        <a href={image.outputUrl} target="_blank" rel="noreferrer noopener">
                          <img
                            src={image.outputUrl}
                            loading="lazy"
                            decoding="async"
                            width={120}
                            height={120}
                            alt={`${product.name}, image ${image.position + 1}, compressed`}
                          />
                        </a>
                      ) : (
                        <div className="thumb-placeholder" aria-hidden="true">
                          {image.status === 'failed' ? '✕' : image.status === 'cancelled' ? '–' : '…'}
                        </div>
                      )}
                      <div className="image-facts">
                        {image.status === 'succeeded' ? (
                          <>
                            <p>
                              {formatBytes(image.bytesIn)} → {formatBytes(image.bytesOut)}{' '}
                              <strong className="saving">{formatSaving(image.bytesIn, image.bytesOut)}</strong>
                            </p>
                            {image.obtained && OBTAINED_NOTE[image.obtained] ? (
                              <p className="obtained muted">{OBTAINED_NOTE[image.obtained]}</p>
                            ) : null}
                          </>
                        ) : image.status === 'failed' ? (
                          <p className="error-text">
                            <code>{image.errorCode}</code> {describeImageError(image.errorCode)}
                          </p>
                        ) : (
                          <p className="muted">{IMAGE_STATE[image.status]}</p>
                        )}
                        <p>
                          <a href={image.inputUrl} target="_blank" rel="noreferrer noopener" className="original-link">
                            Original
                            <span className="visually-hidden">
                              {' '}
                              of {product.name}, image {image.position + 1}
                            </span>
                          </a>
                        </p>
                      </div>
                    </li>
                  ))}
                </ul>
              </li>
            ))}
          </ul>
          <nav className="pager" aria-label="Products pages">
            <button type="button" className="secondary" onClick={() => setPage((p) => p - 1)} disabled={page <= 1}>
              Previous page
            </button>
            <span>
              Page {page} of {pages} · {plural(data.total, 'product')}
            </span>
            <button type="button" className="secondary" onClick={() => setPage((p) => p + 1)} disabled={page >= pages}>
              Next page
            </button>
          </nav>
        </>
      ) : problem ? null : (
        <p>Loading products…</p>
      )}
    </section>
  );
}
