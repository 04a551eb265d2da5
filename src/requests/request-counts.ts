/** A request's counters as its row holds them; the entity, the terminal read and the progress read all have them. */
export interface RequestCounters {
  productCount: number;
  productsProcessed: number;
  imageCount: number;
  imagesSucceeded: number;
  imagesFailed: number;
  imagesCancelled: number;
  /** Of the succeeded, copied from an earlier output after a 304 (revalidated) or a matching digest (reused). */
  imagesRevalidated: number;
  imagesReused: number;
}

/** What every view of a request reports of its counters (RequestCountsDto documents it in the API). */
export interface RequestCounts {
  products: { total: number; processed: number };
  images: {
    total: number;
    succeeded: number;
    failed: number;
    cancelled: number;
    pending: number;
    /** The succeeded by how each was obtained: downloaded and encoded, or copied after a 304 or a matching hash. */
    fetched: number;
    revalidated: number;
    reused: number;
  };
}

/** Images with an outcome: succeeded, failed or cancelled. */
export function imagesDone(counters: RequestCounters): number {
  return counters.imagesSucceeded + counters.imagesFailed + counters.imagesCancelled;
}

/** The counts every view of a request reports (status, list, progress events, webhook events) the same way. */
export function requestCounts(counters: RequestCounters): RequestCounts {
  return {
    products: { total: counters.productCount, processed: counters.productsProcessed },
    images: {
      total: counters.imageCount,
      succeeded: counters.imagesSucceeded,
      failed: counters.imagesFailed,
      cancelled: counters.imagesCancelled,
      pending: counters.imageCount - imagesDone(counters),
      fetched: counters.imagesSucceeded - counters.imagesRevalidated - counters.imagesReused,
      revalidated: counters.imagesRevalidated,
      reused: counters.imagesReused,
    },
  };
}

/** Percent of the images with an outcome, to one decimal, rounded down so 100 means done; an empty request is done. */
export function percentDone(counters: RequestCounters): number {
  return counters.imageCount === 0 ? 100 : Math.floor((imagesDone(counters) / counters.imageCount) * 1000) / 10;
}
