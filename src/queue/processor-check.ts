import { Injectable, OnModuleInit } from '@nestjs/common';
import { DiscoveryService } from '@nestjs/core';
import { AppConfig } from '../config/app-config.js';
import { QueueName } from './queue.constants.js';

// Where @nestjs/bullmq's @Processor() keeps its options; the package does not
// export the constant. processor-check.spec.ts decorates with the real
// @Processor(), so a rename upstream fails that test, not production silently.
const PROCESSOR_METADATA = 'bullmq:processor_metadata';

/** A worker consumes every queue: producers in any role rely on some worker draining each one. */
export const CONSUMED_QUEUES: readonly QueueName[] = Object.values(QueueName);

export class MissingProcessorError extends Error {
  constructor(readonly queues: readonly string[]) {
    const named = queues.map((name) => `"${name}"`).join(', ');
    super(
      `This worker has no processor for queue${queues.length > 1 ? 's' : ''} ${named}: its jobs would wait forever. ` +
        'Register a @Processor() provider for it in a module the worker imports.',
    );
    this.name = 'MissingProcessorError';
  }
}

/**
 * Refuses to start a worker that would leave a queue without a consumer, as
 * immich does for a job without a handler: a module dropped from the worker's
 * imports otherwise shows up only as requests that never finish.
 */
@Injectable()
export class ProcessorCheck implements OnModuleInit {
  constructor(
    private readonly discovery: DiscoveryService,
    private readonly config: AppConfig,
  ) {}

  // Module init runs after every provider exists and before any processor's worker starts (on bootstrap).
  onModuleInit(): void {
    if (!this.config.runsWorker) return;
    const served = new Set(this.processedQueues());
    const missing = CONSUMED_QUEUES.filter((queue) => !served.has(queue));
    if (missing.length > 0) throw new MissingProcessorError(missing);
  }

  private processedQueues(): string[] {
    return this.discovery.getProviders().flatMap((wrapper) => {
      // Factory and value providers have no class of their own as metatype; their instance does.
      const type: unknown = !wrapper.metatype || wrapper.inject ? classOf(wrapper.instance) : wrapper.metatype;
      if (typeof type !== 'function') return [];
      const options = Reflect.getMetadata(PROCESSOR_METADATA, type) as { name?: string } | undefined;
      return options?.name ? [options.name] : [];
    });
  }
}

/** The class an object provider's instance was made from (a processor's is decorated). */
function classOf(instance: unknown): unknown {
  return typeof instance === 'object' && instance !== null ? instance.constructor : undefined;
}
