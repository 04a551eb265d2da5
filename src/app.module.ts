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
import { RequestsModule } from './requests/requests.module.js';
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
 *
 * No feature module is global: each imports the modules it uses. Requests'
 * providers are the one thing handed in from here: requests/ declares ports
 * that products/ and webhooks/ implement, and both import requests/, so only
 * this root may name all three. It builds RequestsModule once, bound to them,
 * and passes that one module to each module that uses requests' providers.
 */
@Module({})
export class AppModule {
  static forConfig(config: AppConfig): DynamicModule {
    const requests = RequestsModule.withPorts([ProductsDataModule, WebhooksModule]);
    const api = [
      SecurityModule.withOwners(requests),
      UploadsModule.withRequests(requests),
      RequestsApiModule.withRequests(requests),
      ProductsModule.withRequests(requests),
      ExportApiModule.withRequests(requests),
      WebhooksApiModule.withRequests(requests),
      FilesModule,
    ];
    const worker = [
      ProcessingModule.withRequests(requests),
      WebhooksWorkerModule,
      RequestRetentionModule.withRequests(requests),
    ];
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        ObservabilityModule,
        HealthModule,
        DatabaseModule.forRoot(ENTITIES),
        QueueModule,
        ...(config.runsApi ? api : []),
        ...(config.runsWorker ? worker : []),
      ],
    };
  }
}
