/**
 * How long a server asked us to wait (RFC 9110 Retry-After): a number of
 * seconds or an HTTP date. Null when the header is absent or unreadable,
 * and never negative (a date in the past means now).
 */
export function retryAfterMs(header: unknown, now = Date.now()): number | null {
  if (typeof header !== 'string' || header.trim() === '') return null;
  const value = header.trim();
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  // An HTTP date names its weekday and GMT (RFC 9110 IMF-fixdate and the two
  // obsolete forms); JavaScript's lenient Date.parse would read "1.5" as a date.
  if (!/^[A-Za-z]{3,9},? .+ GMT$/.test(value)) return null;
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}

/**
 * A URL's host and port, the port always written (80 or 443 when the URL
 * leaves it out): what a source host's limits and pauses apply to, and what
 * the upload stores in the image table's source_host column.
 */
export function hostAndPort(url: URL): string {
  return url.port ? url.host : `${url.host}:${url.protocol === 'https:' ? 443 : 80}`;
}
