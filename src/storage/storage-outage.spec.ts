import { OUTAGE_LIMIT_MS, storageOutageWait } from './storage-outage.js';

describe('storageOutageWait', () => {
  const start = 1_000_000;

  it('waits the job backoff first, then about as long as the outage has lasted, at most a minute', () => {
    expect(storageOutageWait(start, start, 2000)).toBe(2000);
    expect(storageOutageWait(start, start + 10_000, 2000)).toBe(10_000);
    expect(storageOutageWait(start, start + 9 * 60_000, 2000)).toBe(60_000);
  });

  it('keeps waiting through a 10-minute outage and gives up after the limit', () => {
    expect(storageOutageWait(start, start + 10 * 60_000, 2000)).toBe(60_000);
    expect(storageOutageWait(start, start + OUTAGE_LIMIT_MS, 2000)).toBeNull();
  });
});
