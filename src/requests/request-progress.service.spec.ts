import { jest } from '@jest/globals';
import { KEEP_ALIVE_MS, PROGRESS_PERIOD_MS, RequestEventHub } from './request-progress.service.js';
import type { RequestProgressRow, RequestRepository } from './request.repository.js';
import { RequestStatus } from './request-status.js';

function row(id: string, succeeded: number): RequestProgressRow {
  return {
    id,
    status: RequestStatus.Processing,
    retryRound: 0,
    productCount: 10,
    productsProcessed: 0,
    imageCount: 10,
    imagesSucceeded: succeeded,
    imagesFailed: 0,
    imagesCancelled: 0,
    imagesRevalidated: 0,
    imagesReused: 0,
    startedAt: null,
    completedAt: null,
  };
}

/** Lets the hub's awaited read settle after a timer fired. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('RequestEventHub', () => {
  let reads: string[][];
  let hub: RequestEventHub;

  beforeEach(() => {
    jest.useFakeTimers({ doNotFake: ['setImmediate'] });
    reads = [];
    const repository = {
      progressOf: (ids: readonly string[]) => {
        reads.push([...ids]);
        return Promise.resolve(ids.map((id) => row(id, reads.length)));
      },
    } as unknown as RequestRepository;
    hub = new RequestEventHub(repository);
  });

  afterEach(() => {
    hub.onModuleDestroy();
    jest.useRealTimers();
  });

  it('reads every watched request in one query per period, however many streams watch them', async () => {
    const seen: string[] = [];
    const watcher = (name: string) => ({
      onRow: (r: RequestProgressRow | null) => seen.push(`${name}:${r?.id}`),
      onKeepAlive: () => {},
    });
    for (let n = 0; n < 250; n++) hub.watch('a', watcher(`a${n}`));
    for (let n = 0; n < 250; n++) hub.watch('b', watcher(`b${n}`));
    expect(hub.streamCount).toBe(500);

    jest.advanceTimersByTime(PROGRESS_PERIOD_MS);
    await settle();
    expect(reads).toEqual([['a', 'b']]);
    expect(seen).toHaveLength(500);

    jest.advanceTimersByTime(PROGRESS_PERIOD_MS * 3);
    await settle();
    expect(reads.length).toBeLessThanOrEqual(4);
  });

  it('stops reading once nobody watches', async () => {
    const rows: (RequestProgressRow | null)[] = [];
    const stop = hub.watch('a', { onRow: (r) => rows.push(r), onKeepAlive: () => {} });
    jest.advanceTimersByTime(PROGRESS_PERIOD_MS);
    await settle();
    expect(rows).toHaveLength(1);

    stop();
    expect(hub.streamCount).toBe(0);
    jest.advanceTimersByTime(PROGRESS_PERIOD_MS * 10);
    await settle();
    expect(reads).toHaveLength(1);
  });

  it('sends every stream a keep-alive once per KEEP_ALIVE_MS', async () => {
    let keepAlives = 0;
    hub.watch('a', { onRow: () => {}, onKeepAlive: () => keepAlives++ });
    for (let elapsed = 0; elapsed < KEEP_ALIVE_MS * 2; elapsed += PROGRESS_PERIOD_MS) {
      jest.advanceTimersByTime(PROGRESS_PERIOD_MS);
      await settle();
    }
    expect(keepAlives).toBe(2);
  });
});
