/**
 * How an image job waits for a store that is down (StorageError): the image
 * is not at fault, so the wait uses none of its attempts. Waits grow from the
 * job backoff to a minute; after OUTAGE_LIMIT_MS the store is taken to be gone
 * for good and the image fails like any other fault, so that a deleted bucket
 * does not hold a batch open forever.
 */
export const OUTAGE_LIMIT_MS = 15 * 60_000;
const LONGEST_WAIT_MS = 60_000;

/** Milliseconds to wait before trying again, or null once the outage has lasted too long. */
export function storageOutageWait(downSinceMs: number, nowMs: number, backoffMs: number): number | null {
  const down = nowMs - downSinceMs;
  if (down >= OUTAGE_LIMIT_MS) return null;
  // About as long again as the outage has lasted so far: few tries in a long outage, quick ones in a blip.
  return Math.min(LONGEST_WAIT_MS, Math.max(backoffMs, down));
}
