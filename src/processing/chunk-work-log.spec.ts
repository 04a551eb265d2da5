import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { ImageObtained } from '../products/image-obtained.js';
import { ImageStatus } from '../products/image-status.js';
import type { ImageWork, ImageWorkRepository, RecordedWork } from '../products/image-work.repository.js';
import { ChunkWorkLog, FLUSH_MS } from './chunk-work-log.js';

const success = {
  status: ImageStatus.Succeeded,
  outputKey: 'k',
  obtained: ImageObtained.Fetched,
  format: 'jpeg',
  bytesIn: 1,
  bytesOut: 1,
  width: 1,
  height: 1,
} as const;

/** A repository that counts whatever `accept` lets through, and remembers each batch. */
function fakeWork(accept: (imageId: string) => boolean) {
  const batches: ImageWork[][] = [];
  const work = {
    recordWork: (_chunk: string, _request: string, batch: readonly ImageWork[]): Promise<RecordedWork> => {
      batches.push([...batch]);
      const counted = batch.filter((item) => 'outcome' in item && accept(item.imageId)).map((item) => item.imageId);
      return Promise.resolve({ counted, requestDone: false, round: 0 });
    },
  } as unknown as ImageWorkRepository;
  return { work, batches };
}

describe('ChunkWorkLog', () => {
  beforeEach(() => jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate'] }));
  afterEach(() => jest.useRealTimers());

  it('writes nothing at a checkpoint sooner than FLUSH_MS after the claim', async () => {
    const { work, batches } = fakeWork(() => true);
    const log = new ChunkWorkLog(work, 'chunk', 'request', new Logger('test'), 60_000);
    log.add({ imageId: 'a', outcome: success });
    expect(await log.checkpoint()).toBe(true);
    expect(batches).toHaveLength(0);
    await log.close();
    expect(batches).toHaveLength(1);
  });

  it('writes at a checkpoint once FLUSH_MS has passed, and goes on while every outcome counts', async () => {
    const { work, batches } = fakeWork(() => true);
    const log = new ChunkWorkLog(work, 'chunk', 'request', new Logger('test'), 60_000);
    jest.advanceTimersByTime(FLUSH_MS);
    log.add({ imageId: 'a', outcome: success });
    expect(await log.checkpoint()).toBe(true);
    expect(batches).toEqual([[{ imageId: 'a', outcome: success }]]);
    expect(log.counted).toHaveLength(1);
  });

  it('tells the chunk to stop once an outcome was not counted: its images are no longer its own', async () => {
    const { work } = fakeWork((imageId) => imageId !== 'cancelled');
    const log = new ChunkWorkLog(work, 'chunk', 'request', new Logger('test'), 60_000);
    jest.advanceTimersByTime(FLUSH_MS);
    log.add({ imageId: 'cancelled', outcome: success });
    expect(await log.checkpoint()).toBe(false);
    expect(log.counted).toHaveLength(0);
  });

  it('learns nothing from a requeue: a chunk that only sent images back goes on', async () => {
    const { work } = fakeWork(() => false);
    const log = new ChunkWorkLog(work, 'chunk', 'request', new Logger('test'), 60_000);
    jest.advanceTimersByTime(FLUSH_MS);
    log.add({ imageId: 'a', requeue: { delayMs: 0, notItsFault: false } });
    expect(await log.checkpoint()).toBe(true);
  });
});
