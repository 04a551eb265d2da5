import { Processor, WorkerHost } from '@nestjs/bullmq';
import type { Job } from 'bullmq';
import { FinalizeRequestJob, QueueName } from '../queue/queue.constants.js';
import { RequestFinalizer } from './request-finalizer.service.js';

@Processor(QueueName.Requests)
export class FinalizeRequestProcessor extends WorkerHost {
  constructor(private readonly finalizer: RequestFinalizer) {
    super();
  }

  async process(job: Job<FinalizeRequestJob>): Promise<string | null> {
    return this.finalizer.finalize(job.data.requestId);
  }
}
