import { Processor, WorkerHost } from '@nestjs/bullmq';
import { OnModuleDestroy } from '@nestjs/common';
import type { Job } from 'bullmq';
import { type FinalizeRequestJob, JobName, QueueName } from '../queue/queue.constants.js';
import { RequestFinalizer } from '../requests/request-finalizer.service.js';
import { Dispatcher } from './dispatcher.js';

/** The requests queue: finalizing a request whose images all have an outcome, and dispatch nudges. */
@Processor(QueueName.Requests)
export class FinalizeRequestProcessor extends WorkerHost implements OnModuleDestroy {
  constructor(
    private readonly finalizer: RequestFinalizer,
    private readonly dispatcher: Dispatcher,
  ) {
    super();
  }

  /** Finish a finalize in flight while the database is still open (see ChunkJobProcessor). */
  async onModuleDestroy(): Promise<void> {
    await this.worker.close();
  }

  async process(job: Job<FinalizeRequestJob | Record<string, never>>): Promise<string | null> {
    if ((job.name as JobName) === JobName.Dispatch) {
      await this.dispatcher.nudge();
      return null;
    }
    return this.finalizer.finalize((job.data as FinalizeRequestJob).requestId);
  }
}
