import { Module } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { WebhookDeliveryProcessor } from './webhook-delivery.processor.js';
import { WEBHOOK_SENDER_OPTIONS, WebhookSender } from './webhook-sender.js';
import { WebhookSweeper } from './webhook-sweeper.service.js';
import { WebhooksModule } from './webhooks.module.js';

/** The worker role's part: sending attempts and sweeping up lost jobs. */
@Module({
  imports: [WebhooksModule],
  providers: [
    {
      provide: WEBHOOK_SENDER_OPTIONS,
      inject: [AppConfig],
      useFactory: (config: AppConfig) => ({
        timeoutMs: config.webhooks.timeoutMs,
        allowPrivateNetworks: config.allowPrivateNetworks,
      }),
    },
    WebhookSender,
    WebhookDeliveryProcessor,
    WebhookSweeper,
  ],
})
export class WebhooksWorkerModule {}
