import type { PausedHostDto } from '@pixbatch/sdk';
import { useEffect, useState } from 'react';
import { formatClock } from '../format';

/** setTimeout's longest delay; a later pause end is checked again after it. */
const MAX_DELAY_MS = 2_147_483_647;

/**
 * The source hosts that asked the service to wait (HTTP 429 or 503 with
 * Retry-After) and that the request still has images waiting on. A host
 * leaves the notice when its pause ends, without waiting for the next status
 * read. The status region is always there, so that a screen reader announces
 * the notice when it appears.
 */
export function PausedHostsNotice({ hosts }: { hosts: PausedHostDto[] }) {
  const [now, setNow] = useState(() => Date.now());
  const waiting = hosts.filter((paused) => Date.parse(paused.until) > now);
  const nextEnd = waiting.length > 0 ? Math.min(...waiting.map((paused) => Date.parse(paused.until))) : null;

  useEffect(() => {
    if (nextEnd === null) return;
    const timer = setTimeout(() => setNow(Date.now()), Math.min(Math.max(0, nextEnd - Date.now()) + 50, MAX_DELAY_MS));
    return () => clearTimeout(timer);
  }, [nextEnd]);

  return (
    <div role="status">
      {waiting.length > 0 ? (
        <div className="notice">
          {waiting.map((paused) => (
            <p key={paused.host}>
              Waiting: <code>{paused.host}</code> asked us to slow down (HTTP 429 or 503); its images resume at{' '}
              <time dateTime={paused.until}>{formatClock(paused.until)}</time>.
            </p>
          ))}
        </div>
      ) : null}
    </div>
  );
}
