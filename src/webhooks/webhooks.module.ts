import { Module } from '@nestjs/common';
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
 * the worker's finalizer writes events to the outbox. It implements requests/'s
 * two webhook ports (request-events.ts, webhook-state.port.ts); webhooks/
 * imports requests/, so requests/ does not import this module: the
 * composition root passes it to RequestsModule.withPorts.
 */
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
