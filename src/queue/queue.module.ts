import { BullModule } from '@nestjs/bullmq';
import { Global, Module } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { QueueName } from './queue.constants.js';
import { JobQueue } from './job-queue.service.js';

@Global()
@Module({
  imports: [
    BullModule.forRootAsync({
      inject: [AppConfig],
      useFactory: (config: AppConfig) => ({
        prefix: config.queuePrefix,
        // BullMQ's production guide: workers must wait out a Redis outage
        // rather than fail commands, hence no per-request retry cap.
        connection: { url: config.redisUrl, maxRetriesPerRequest: null, enableOfflineQueue: true },
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
  providers: [JobQueue],
  exports: [BullModule, JobQueue],
})
export class QueueModule {}
