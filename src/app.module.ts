import { DynamicModule, Module } from '@nestjs/common';
import { AppConfig } from './config/app-config.js';
import { ConfigModule } from './config/config.module.js';
import { DatabaseModule } from './database/database.module.js';
import { ENTITIES } from './entities.js';
import { ExportApiModule } from './export/export-api.module.js';
import { HealthModule } from './health/health.module.js';
import { ObservabilityModule } from './observability/observability.module.js';
import { ProcessingModule } from './processing/processing.module.js';
import { ProductsDataModule } from './products/products-data.module.js';
import { ProductsModule } from './products/products.module.js';
import { QueueModule } from './queue/queue.module.js';
import { RequestRetentionModule } from './requests/request-retention.module.js';
import { RequestsApiModule } from './requests/requests-api.module.js';
import { SecurityModule } from './security/security.module.js';
import { FilesModule } from './storage/files.module.js';
import { UploadsModule } from './uploads/uploads.module.js';
import { WebhooksApiModule } from './webhooks/webhooks-api.module.js';
import { WebhooksWorkerModule } from './webhooks/webhooks-worker.module.js';
import { WebhooksModule } from './webhooks/webhooks.module.js';

/**
 * The modules a role needs: the API serves HTTP, the worker runs the jobs, `all`
 * does both. Every role has health checks, logs and metrics. Only the API list
 * holds controllers besides those two, so a worker's METRICS_PORT serves
 * /health and /metrics and nothing else.
 */
@Module({})
export class AppModule {
  static forConfig(config: AppConfig): DynamicModule {
    const api = [
      SecurityModule,
      UploadsModule,
      RequestsApiModule,
      ProductsModule,
      ExportApiModule,
      WebhooksApiModule,
      FilesModule,
    ];
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        ObservabilityModule,
        HealthModule,
        DatabaseModule.forRoot(ENTITIES),
        QueueModule,
        WebhooksModule,
        ProductsDataModule,
        ...(config.runsApi ? api : []),
        ...(config.runsWorker ? [ProcessingModule, WebhooksWorkerModule, RequestRetentionModule] : []),
      ],
    };
  }
}
