import { Module } from '@nestjs/common';
import { RequestsModule } from '../requests/requests.module.js';
import { WebhookDeliveriesController } from './webhook-deliveries.controller.js';
import { WebhookDeliveriesService } from './webhook-deliveries.service.js';

/** The API role's view of webhooks: the delivery log and redelivery. */
@Module({
  imports: [RequestsModule],
  controllers: [WebhookDeliveriesController],
  providers: [WebhookDeliveriesService],
})
export class WebhooksApiModule {}
