import { DynamicModule, Module } from '@nestjs/common';
import { AppConfig } from './config/app-config.js';
import { ConfigModule } from './config/config.module.js';
import { DatabaseModule } from './database/database.module.js';
import { ExportModule } from './export/export.module.js';
import { HealthModule } from './health/health.module.js';
import { ObservabilityModule } from './observability/observability.module.js';
import { ProcessingModule } from './processing/processing.module.js';
import { ProductsModule } from './products/products.module.js';
import { QueueModule } from './queue/queue.module.js';
import { RequestsModule } from './requests/requests.module.js';
import { SecurityModule } from './security/security.module.js';
import { StorageModule } from './storage/storage.module.js';
import { UploadsModule } from './uploads/uploads.module.js';
import { WebhookDeliveriesModule } from './webhooks/webhook-deliveries.module.js';
import { WebhookDeliveryModule } from './webhooks/webhook-delivery.module.js';
import { WebhooksModule } from './webhooks/webhooks.module.js';

/**
 * The modules a role needs: the API serves HTTP, the worker runs the jobs, `all`
 * does both. Every role has health checks, logs and metrics.
 */
@Module({})
export class AppModule {
  static forConfig(config: AppConfig): DynamicModule {
    const api = [
      SecurityModule,
      UploadsModule,
      RequestsModule,
      ProductsModule,
      ExportModule,
      WebhookDeliveriesModule,
    ];
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        ObservabilityModule,
        HealthModule,
        DatabaseModule,
        QueueModule,
        StorageModule,
        WebhooksModule,
        ...(config.runsApi ? api : []),
        ...(config.runsWorker ? [ProcessingModule, WebhookDeliveryModule] : []),
      ],
    };
  }
}
