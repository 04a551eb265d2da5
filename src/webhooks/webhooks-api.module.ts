import { DynamicModule, Module } from '@nestjs/common';
import { WebhookDeliveriesController } from './webhook-deliveries.controller.js';
import { WebhookDeliveriesService } from './webhook-deliveries.service.js';
import { WebhooksModule } from './webhooks.module.js';

/** The API role's view of webhooks: the delivery log and redelivery. */
@Module({
  imports: [WebhooksModule],
  controllers: [WebhookDeliveriesController],
  providers: [WebhookDeliveriesService],
})
export class WebhooksApiModule {
  /** `requests`: the one RequestsModule the composition root (app.module.ts) builds. */
  static withRequests(requests: DynamicModule): DynamicModule {
    return { module: WebhooksApiModule, imports: [requests] };
  }
}
