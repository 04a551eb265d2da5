import { Global, Module } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { RequestEventOutbox } from '../requests/request-events.js';
import { RequestWebhookState } from '../requests/webhook-state.port.js';
import { WebhookStateReporter } from './request-webhook-state.js';
import { RetrySchedule } from './retry-schedule.js';
import { WebhookDeliveryRepository } from './webhook-delivery.repository.js';
import { WebhookOutbox } from './webhook-outbox.service.js';
import { WebhookRegistrar } from './webhook-registration.service.js';
import { WebhookSigner } from './webhook-signer.js';
import { StorageModule } from '../storage/storage.module.js';

/**
 * What every role needs: the API registers webhooks and reports their state,
 * the worker's finalizer writes events to the outbox. Global like the queue,
 * since uploads, requests and processing all reach it. It implements the
 * request lifecycle's two ports (request-events.ts), so requests/ needs no
 * import of webhooks/.
 */
@Global()
@Module({
  imports: [StorageModule],
  providers: [
    {
      provide: WebhookSigner,
      inject: [AppConfig],
      useFactory: (config: AppConfig) => new WebhookSigner(config.webhooks.signingSecrets),
    },
    {
      provide: RetrySchedule,
      inject: [AppConfig],
      useFactory: (config: AppConfig) => new RetrySchedule(config.webhooks.retryDelaysMs),
    },
    WebhookDeliveryRepository,
    WebhookOutbox,
    WebhookRegistrar,
    { provide: RequestEventOutbox, useExisting: WebhookOutbox },
    { provide: RequestWebhookState, useClass: WebhookStateReporter },
  ],
  exports: [
    WebhookSigner,
    RetrySchedule,
    WebhookDeliveryRepository,
    WebhookOutbox,
    WebhookRegistrar,
    RequestEventOutbox,
    RequestWebhookState,
  ],
})
export class WebhooksModule {}
