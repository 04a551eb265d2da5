import { Processor, WorkerHost } from '@nestjs/bullmq';
import { OnModuleDestroy } from '@nestjs/common';
import type { Job } from 'bullmq';
import { FinalizeRequestJob, QueueName } from '../queue/queue.constants.js';
import { RequestFinalizer } from '../requests/request-finalizer.service.js';

@Processor(QueueName.Requests)
export class FinalizeRequestProcessor extends WorkerHost implements OnModuleDestroy {
  constructor(private readonly finalizer: RequestFinalizer) {
    super();
  }

  /** Finish a finalize in flight while the database is still open (see ImageJobProcessor). */
  async onModuleDestroy(): Promise<void> {
    await this.worker.close();
  }

  async process(job: Job<FinalizeRequestJob>): Promise<string | null> {
    return this.finalizer.finalize(job.data.requestId);
  }
}
