import { BullModule } from '@nestjs/bullmq';
import { Global, Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { Processor, RedisOptions, Worker, WorkerOptions } from 'bullmq';
import { AppConfig } from '../config/app-config.js';
import { QueueName } from './queue.constants.js';
import { JobQueue } from './job-queue.service.js';
import { ProcessorCheck } from './processor-check.js';

/**
 * BullMQ's production guide: a worker waits out a Redis outage (its commands
 * queue until the connection is back, and BullMQ forces maxRetriesPerRequest
 * null on it), so a job finished during the outage is still recorded. Nest
 * builds each worker from its queue's connection options, which fail fast
 * (below); workers turn the offline queue back on.
 */
class OutageTolerantWorker extends Worker {
  constructor(name: string, processor: Processor, opts: WorkerOptions<RedisOptions>) {
    super(name, processor, {
      ...opts,
      connection: { ...opts.connection, enableOfflineQueue: true, maxRetriesPerRequest: null },
    });
  }
}
BullModule.workerClass = OutageTolerantWorker;

@Global()
@Module({
  imports: [
    DiscoveryModule,
    BullModule.forRootAsync({
      inject: [AppConfig],
      useFactory: (config: AppConfig) => ({
        prefix: config.queuePrefix,
        // Producers fail fast while Redis is down (BullMQ's "failing fast when
        // Redis is down"): an upload answers 503 at once and the readiness
        // probe reports it, instead of both hanging until Redis is back. The
        // price: a blip of a few hundred milliseconds fails an upload that
        // waiting would have saved, and the client has to retry it.
        connection: { url: config.redisUrl, enableOfflineQueue: false },
        defaultJobOptions: {
          attempts: config.jobAttempts,
          backoff: { type: 'exponential', delay: config.jobBackoffMs },
          removeOnComplete: { count: 1000, age: 24 * 3600 },
          removeOnFail: { count: 5000, age: 7 * 24 * 3600 },
        },
      }),
    }),
    BullModule.registerQueue({ name: QueueName.Images }, { name: QueueName.Requests }, { name: QueueName.Webhooks }),
  ],
  providers: [JobQueue, ProcessorCheck],
  exports: [BullModule, JobQueue],
})
export class QueueModule {}
