/**
 * How a succeeded image's output was obtained (image.obtained): downloaded
 * and encoded, or copied from an earlier request's output of the same URL,
 * options and pipeline version after the source answered 304 to a
 * conditional request (revalidated) or sent bytes whose digest matched
 * (reused). See docs/architecture.md, "Re-runs".
 */
export enum ImageObtained {
  Fetched = 'fetched',
  Revalidated = 'revalidated',
  Reused = 'reused',
}
