/** A source host (host:port) that asked the service to wait, and until when. */
export interface PausedSourceHost {
  host: string;
  until: Date;
}

/**
 * The request's status names the paused source hosts it still has images
 * waiting on; the pauses and the images live in products/' tables. requests/
 * declares what it needs and products/ provides it (ProductsDataModule), as
 * for RequestImageErrors, so the dependency runs one way: products → requests.
 */
export abstract class RequestPausedHosts {
  /** The paused hosts the request has images waiting on, by host; empty unless the request is open. */
  abstract pausedHostsOf(requestId: string): Promise<PausedSourceHost[]>;
}
