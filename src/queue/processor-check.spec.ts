import { Processor } from '@nestjs/bullmq';
import { Injectable, Module, type Type } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import { AppConfig, loadConfig } from '../config/app-config.js';
import { MissingProcessorError, ProcessorCheck } from './processor-check.js';
import { QueueName } from './queue.constants.js';

// Only the decorator matters to the check; without BullModule nothing connects to Redis.
@Processor(QueueName.Images)
class ImagesProcessor {}

@Processor(QueueName.Requests)
class RequestsProcessor {}

@Processor(QueueName.Webhooks)
class WebhooksProcessor {}

@Injectable()
class NotAProcessor {}

describe('ProcessorCheck', () => {
  const start = async (role: 'all' | 'api' | 'worker', providers: Type[]): Promise<void> => {
    // Processors in a module of their own, as in the app, where they sit in feature modules.
    @Module({ providers })
    class FeatureModule {}
    const moduleRef = await Test.createTestingModule({
      imports: [DiscoveryModule, FeatureModule],
      providers: [{ provide: AppConfig, useValue: loadConfig({ APP_ROLE: role }) }, ProcessorCheck],
    }).compile();
    try {
      await moduleRef.init();
    } finally {
      await moduleRef.close();
    }
  };

  it('lets a worker with a processor for every queue start', async () => {
    await expect(start('worker', [ImagesProcessor, RequestsProcessor, WebhooksProcessor])).resolves.toBeUndefined();
  });

  it('refuses to start a worker when a queue has no processor, naming the queue', async () => {
    const failure = start('worker', [ImagesProcessor, NotAProcessor, WebhooksProcessor]);
    await expect(failure).rejects.toBeInstanceOf(MissingProcessorError);
    await expect(start('worker', [ImagesProcessor, WebhooksProcessor])).rejects.toThrow(
      /no processor for queue "requests"/,
    );
  });

  it('names every queue left without a processor', async () => {
    await expect(start('all', [RequestsProcessor])).rejects.toThrow(/queues "images", "webhooks"/);
  });

  it('finds a processor registered through a factory', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [DiscoveryModule],
      providers: [
        { provide: AppConfig, useValue: loadConfig({ APP_ROLE: 'worker' }) },
        ProcessorCheck,
        ImagesProcessor,
        WebhooksProcessor,
        { provide: 'requests-processor', useFactory: () => new RequestsProcessor() },
      ],
    }).compile();
    await expect(moduleRef.init()).resolves.toBe(moduleRef);
    await moduleRef.close();
  });

  it('asks nothing of the API role, which consumes no queue', async () => {
    await expect(start('api', [])).resolves.toBeUndefined();
  });
});
