import { DynamicModule, Module } from '@nestjs/common';
import { ArchiveService } from './archive.service.js';
import { ExportController } from './export.controller.js';
import { ExportService } from './export.service.js';
import { ProductsDataModule } from '../products/products-data.module.js';
import { StorageModule } from '../storage/storage.module.js';

/** The API role's exports: the result CSV and the ZIP of outputs, and their routes. No other role builds them. */
@Module({
  imports: [StorageModule, ProductsDataModule],
  controllers: [ExportController],
  providers: [ExportService, ArchiveService],
})
export class ExportApiModule {
  /** `requests`: the one RequestsModule the composition root (app.module.ts) builds. */
  static withRequests(requests: DynamicModule): DynamicModule {
    return { module: ExportApiModule, imports: [requests] };
  }
}
