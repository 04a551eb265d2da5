import { DynamicModule, Module } from '@nestjs/common';
import { ProductsDataModule } from '../products/products-data.module.js';
import { WebhooksModule } from '../webhooks/webhooks.module.js';
import { IdempotencyService } from './idempotency.service.js';
import { UploadIntake } from './upload-intake.service.js';
import { UploadsController } from './uploads.controller.js';
import { UploadsService } from './uploads.service.js';

/** The API role's uploads: the CSV's intake, its products and images, its webhook, idempotent repeats. */
@Module({
  imports: [ProductsDataModule, WebhooksModule],
  controllers: [UploadsController],
  providers: [UploadsService, UploadIntake, IdempotencyService],
})
export class UploadsModule {
  /** `requests`: the one RequestsModule the composition root (app.module.ts) builds. */
  static withRequests(requests: DynamicModule): DynamicModule {
    return { module: UploadsModule, imports: [requests] };
  }
}
