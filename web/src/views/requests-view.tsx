import { listRequests, type RequestListDto, type RequestStatus } from '@pixbatch/sdk';
import { useEffect, useState, type FormEvent } from 'react';
import { call } from '../api/client';
import { ApiProblem, toProblem } from '../api/problem';
import { Link } from '../components/link';
import { ProblemView } from '../components/problem-view';
import { ProgressBar } from '../components/progress-bar';
import { formatAge, formatClock, imageCounts, plural, shortId } from '../format';
import { navigate, useLocationState } from '../router';
import { statusText } from './request-view';

const STATUSES: RequestStatus[] = [
  'pending',
  'processing',
  'completed',
  'completed_with_errors',
  'failed',
  'cancelled',
];
const PAGE_SIZE = 10;
/**
 * How often the list is read again while the tab is in view: bars and counts move, and
 * a request made elsewhere (the API, the CLI, another tab) appears without a reload,
 * whether or not the listed ones have finished. A hidden tab waits until it is shown.
 */
const REFRESH_MS = 2000;

/**
 * Where the list stands, all of it in the URL (`/requests?status=failed&page=2&cursor=…`),
 * so a reload, a shared link and Back keep it: the filter, the page number and that
 * page's cursor. The list is keyset-paginated, so a page is named by its cursor; the
 * cursors of the pages before it travel in the history entry's state (`trail`), which
 * the browser keeps across reloads and Back, and which "Newer" follows.
 */
interface Place {
  status: RequestStatus | '';
  page: number;
  cursor?: string;
}

interface PlaceState {
  /** The cursor of each page from the first to this one ('' for the first), as this tab went through them. */
  trail: string[];
}

function readPlace(search: string): Place {
  const params = new URLSearchParams(search);
  const status = params.get('status') ?? '';
  const cursor = params.get('cursor') ?? undefined;
  const page = Number(params.get('page'));
  return {
    status: (STATUSES as string[]).includes(status) ? (status as RequestStatus) : '',
    // A page number without its cursor names nothing: the first page.
    page: cursor && Number.isInteger(page) && page > 1 ? page : 1,
    cursor: cursor && page > 1 ? cursor : undefined,
  };
}

function placeUrl(place: Place): string {
  const params = new URLSearchParams();
  if (place.status) params.set('status', place.status);
  if (place.page > 1 && place.cursor) {
    params.set('page', String(place.page));
    params.set('cursor', place.cursor);
  }
  const query = params.toString();
  return query ? `/requests?${query}` : '/requests';
}

/** The trail to this page: the state's when it leads here, else what the URL alone tells. */
function trailOf(place: Place, state: unknown): string[] {
  const trail = (state as Partial<PlaceState> | null)?.trail;
  if (Array.isArray(trail) && trail.length === place.page && trail[place.page - 1] === (place.cursor ?? ''))
    return trail;
  return place.page === 1 ? [''] : [];
}

/**
 * The caller's requests, newest first, as a table: a status filter, cursor paging
 * with its place in the whole ("11–20 of 45"), and each request's short id and
 * creation time beside its file name, so two uploads of the same file differ.
 */
export function RequestsView() {
  const location = useLocationState();
  const place = readPlace(location.search);
  const trail = trailOf(place, location.state);
  const [page, setPage] = useState<RequestListDto | null>(null);
  const [problem, setProblem] = useState<ApiProblem | null>(null);
  const [refreshes, setRefreshes] = useState(0);
  const { status: filter, cursor } = place;

  useEffect(() => {
    const abort = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const query = {
      limit: PAGE_SIZE,
      ...(filter ? { status: [filter] } : {}),
      ...(cursor ? { cursor } : {}),
    };
    const refresh = () => {
      if (document.visibilityState === 'hidden') addEventListener('visibilitychange', refresh, { once: true });
      else setRefreshes((n) => n + 1);
    };
    const again = () => (timer = setTimeout(refresh, REFRESH_MS));
    call(listRequests({ query, signal: abort.signal }))
      .then((next) => {
        setPage(next);
        setProblem(null);
        again();
      })
      .catch((error: unknown) => {
        if (abort.signal.aborted) return;
        setProblem(toProblem(error));
        // A refused cursor will not get better; anything else (the server restarting) may.
        if (!(error instanceof ApiProblem && error.status === 400)) again();
      });
    return () => {
      abort.abort();
      clearTimeout(timer);
      removeEventListener('visibilitychange', refresh);
    };
  }, [filter, cursor, refreshes]);

  const go = (next: Place, nextTrail: string[]) => {
    setPage(null);
    navigate(placeUrl(next), { trail: nextTrail } satisfies PlaceState);
  };
  const older = () => {
    if (!page?.nextCursor) return;
    const known = trail.length === place.page ? trail : [];
    go(
      { status: filter, page: place.page + 1, cursor: page.nextCursor },
      known.length ? [...known, page.nextCursor] : [],
    );
  };
  const newer = () => {
    // Opened from a link deep in the list, this tab never saw the page before: the newest page is the way back.
    const previous = trail.length === place.page ? trail[place.page - 2] : '';
    const back = previous ? place.page - 1 : 1;
    go({ status: filter, page: back, cursor: previous || undefined }, previous ? trail.slice(0, -1) : ['']);
  };

  const first = (place.page - 1) * PAGE_SIZE + 1;
  const shown = page ? `${first}–${first + page.items.length - 1} of ${page.total}` : null;
  const pages = page ? Math.max(1, Math.ceil(page.total / PAGE_SIZE)) : null;

  return (
    <section aria-labelledby="requests-heading">
      <h1 id="requests-heading">Requests</h1>
      <div className="card list-toolbar">
        <div className="inline-form">
          <label htmlFor="status-filter">Status</label>
          <select
            id="status-filter"
            value={filter}
            onChange={(event) => go({ status: event.target.value as RequestStatus | '', page: 1 }, [''])}
          >
            <option value="">All</option>
            {STATUSES.map((status) => (
              <option key={status} value={status}>
                {statusText(status)}
              </option>
            ))}
          </select>
        </div>
        <OpenById />
      </div>
      {problem ? <ProblemView problem={problem} /> : null}
      {page === null && !problem ? <p aria-live="polite">Loading requests…</p> : null}
      {page && page.items.length > 0 ? (
        <div className="table-scroll" role="region" aria-label="Your requests, newest first" tabIndex={0}>
          <table className="requests-table">
            <caption className="muted">
              {plural(page.total, 'request')}
              {filter ? ` (${statusText(filter)})` : ''}, newest first
            </caption>
            <thead>
              <tr>
                <th scope="col">File</th>
                <th scope="col">Status</th>
                <th scope="col">Progress</th>
                <th scope="col">Images</th>
                <th scope="col">Products</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {page.items.map((request) => (
                <tr key={request.requestId} className="request-item">
                  <td>
                    <p className="request-title">
                      <Link href={`/requests/${request.requestId}`}>{request.originalFilename}</Link>
                    </p>
                    <code className="short-id" title={request.requestId}>
                      {shortId(request.requestId)}
                    </code>
                  </td>
                  <td>
                    <span className={`badge status-${request.status}`}>{statusText(request.status)}</span>
                  </td>
                  <td className="progress-cell">
                    <ProgressBar
                      percent={request.percent}
                      images={request.counts.images}
                      status={request.status}
                      label={`${request.originalFilename} progress`}
                    />
                  </td>
                  <td>{imageCounts(request.counts.images)}</td>
                  <td>{plural(request.counts.products.total, 'product')}</td>
                  <td>
                    <time dateTime={request.createdAt} title={new Date(request.createdAt).toLocaleString()}>
                      {formatClock(request.createdAt)}
                    </time>
                    <br />
                    <span className="muted">{formatAge(request.createdAt)}</span>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {page && page.items.length === 0 ? <p>{filter ? 'No request has this status.' : 'No requests yet.'}</p> : null}
      <nav className="pager" aria-label="Requests pages">
        <button type="button" className="secondary" disabled={place.page <= 1} onClick={newer}>
          Newer
        </button>
        <span className="muted" aria-live="polite">
          Page {place.page}
          {pages !== null ? ` of ${Math.max(pages, place.page)}` : ''}
          {shown && page && page.items.length > 0 ? ` · ${shown}` : ''}
        </span>
        <button type="button" className="secondary" disabled={!page?.nextCursor} onClick={older}>
          Older
        </button>
      </nav>
    </section>
  );
}

const REQUEST_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Opens a request by its whole id. The short ids in the table are for telling rows
 * apart (each row links to its request); the API finds requests by the whole id only,
 * so a part of one is refused here, with what to do instead, rather than by the server.
 */
function OpenById() {
  const [id, setId] = useState('');
  const [error, setError] = useState<string | null>(null);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const wanted = id.trim();
    if (!wanted) return;
    if (!REQUEST_ID.test(wanted)) {
      setError(
        'Enter the whole request id, 36 characters such as 3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b, as the upload ' +
          'answered it; a part of one is not enough. The list below links every request.',
      );
      return;
    }
    navigate(`/requests/${encodeURIComponent(wanted.toLowerCase())}`);
  };
  return (
    <form className="inline-form" onSubmit={submit} noValidate>
      <label htmlFor="request-id">Request id</label>
      <input
        id="request-id"
        className="request-id-input"
        value={id}
        onChange={(event) => {
          setId(event.target.value);
          setError(null);
        }}
        placeholder="the whole id, 36 characters"
        aria-describedby={error ? 'request-id-error' : undefined}
        aria-invalid={error ? true : undefined}
        autoComplete="off"
        spellCheck={false}
      />
      <button type="submit">Open</button>
      {error ? (
        <p id="request-id-error" className="error-text" role="alert">
          {error}
        </p>
      ) : null}
    </form>
  );
}
