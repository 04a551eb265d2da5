const bytesFormat = new Intl.NumberFormat('en', { maximumFractionDigits: 1 });

export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined) return '–';
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${bytesFormat.format(bytes / 1024)} KB`;
  return `${bytesFormat.format(bytes / (1024 * 1024))} MB`;
}

/** The share saved, e.g. "−62 %"; a larger output shows as "+4 %". */
export function formatSaving(before: number | null, after: number | null): string {
  if (!before || after === null) return '–';
  const change = Math.round(((after - before) / before) * 100);
  return `${change <= 0 ? '−' : '+'}${Math.abs(change)} %`;
}

export function formatDuration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return '–';
  if (seconds < 60) return `${Math.ceil(seconds)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

export function formatRate(imagesPerSecond: number | null): string {
  return imagesPerSecond === null ? '–' : `${imagesPerSecond.toFixed(1)} images/s`;
}

const clock = new Intl.DateTimeFormat(undefined, { timeStyle: 'medium' });
const clockAndDay = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

/** A moment in the reader's local time, e.g. "14:05:12"; with its date unless it is today. */
export function formatClock(iso: string, now = new Date()): string {
  const at = new Date(iso);
  return at.toDateString() === now.toDateString() ? clock.format(at) : clockAndDay.format(at);
}

const relative = new Intl.RelativeTimeFormat('en', { numeric: 'auto' });

export function formatAge(iso: string, now = Date.now()): string {
  const seconds = Math.round((new Date(iso).getTime() - now) / 1000);
  if (Math.abs(seconds) < 60) return relative.format(seconds, 'second');
  if (Math.abs(seconds) < 3600) return relative.format(Math.round(seconds / 60), 'minute');
  if (Math.abs(seconds) < 86400) return relative.format(Math.round(seconds / 3600), 'hour');
  return relative.format(Math.round(seconds / 86400), 'day');
}

/** A sentence for a person, for each stable image error code; the server's message stays beside it. */
const IMAGE_ERRORS: Record<string, string> = {
  FETCH_TIMEOUT: 'The image host did not answer in time.',
  TOO_LARGE: 'The image is larger than the service accepts.',
  NOT_AN_IMAGE: 'The address returned something that is not an image (a web page, perhaps).',
  BLOCKED_ADDRESS: 'The address points to a private network, which the service does not fetch from.',
  DECODE_ERROR: 'The file looks like an image but could not be read; it may be damaged.',
  TOO_MANY_REDIRECTS: 'The address redirected too many times.',
  CONNECTION_ERROR: 'The image host could not be reached.',
  DNS_ERROR: 'The image host name does not exist.',
  INVALID_URL: 'The address is not a valid http(s) URL.',
  EMPTY_BODY: 'The image host sent an empty file.',
  UNSUPPORTED_FORMAT: 'The image is in a format the service does not convert.',
  TOO_MANY_PIXELS: 'The image has more pixels than the service accepts.',
  TOO_MANY_FRAMES: 'The animation has more frames than the service accepts.',
  PROCESSING_ERROR: 'The image could not be compressed.',
};

export function describeImageError(code: string | null): string {
  if (!code) return 'The image failed.';
  if (IMAGE_ERRORS[code]) return IMAGE_ERRORS[code];
  const http = /^HTTP_(\d{3})$/.exec(code);
  if (http) {
    const status = Number(http[1]);
    if (status === 404 || status === 410) return `The image is not at this address any more (HTTP ${status}).`;
    if (status === 401 || status === 403) return `The image host refused access (HTTP ${status}).`;
    if (status >= 500 || status === 429) return `The image host kept failing (HTTP ${status}); a retry may succeed.`;
    return `The image host answered HTTP ${status}.`;
  }
  return `The image failed (${code}).`;
}

const englishPlural = new Intl.PluralRules('en');
const count = new Intl.NumberFormat('en');

/** "1 product", "2 products", "1,200 images": a count with its noun in the right number. */
export function plural(n: number, noun: string, nouns = `${noun}s`): string {
  return `${count.format(n)} ${englishPlural.select(n) === 'one' ? noun : nouns}`;
}

/** "6 succeeded, 1 failed, 3 cancelled of 10 images": cancelled named only when some were, so it is never hidden. */
export function imageCounts(images: { total: number; succeeded: number; failed: number; cancelled: number }): string {
  const cancelled = images.cancelled > 0 ? `, ${images.cancelled} cancelled` : '';
  return `${images.succeeded} succeeded, ${images.failed} failed${cancelled} of ${plural(images.total, 'image')}`;
}

/** The first block of a request id, enough to tell two requests apart on a page; the whole id goes in a title. */
export function shortId(id: string): string {
  return id.slice(0, 8);
}

/**
 * What a re-run saved, for a catalogue manager: "Re-run: 2,850 images unchanged since an earlier upload,
 * copied instead of compressed again (2,700 confirmed by the image host, 150 downloaded with the same bytes);
 * 150 fetched anew." Null when nothing was copied, so a first upload says nothing about re-runs.
 */
export function rerunSummary(images: { fetched: number; revalidated: number; reused: number }): string | null {
  const unchanged = images.revalidated + images.reused;
  if (unchanged === 0) return null;
  const how = [
    images.revalidated > 0 ? `${count.format(images.revalidated)} confirmed by the image host` : null,
    images.reused > 0 ? `${count.format(images.reused)} downloaded with the same bytes` : null,
  ].filter((part) => part !== null);
  return (
    `Re-run: ${plural(unchanged, 'image')} unchanged since an earlier upload, copied instead of compressed again ` +
    `(${how.join(', ')}); ${count.format(images.fetched)} fetched anew.`
  );
}
