import { DynamicModule, Module } from '@nestjs/common';
import { ProductsController } from './products.controller.js';
import { ProductsDataModule } from './products-data.module.js';
import { ProductsService } from './products.service.js';
import { StorageModule } from '../storage/storage.module.js';

/** The API role's product routes. */
@Module({
  imports: [StorageModule, ProductsDataModule],
  controllers: [ProductsController],
  providers: [ProductsService],
})
export class ProductsModule {
  /** `requests`: the one RequestsModule the composition root (app.module.ts) builds. */
  static withRequests(requests: DynamicModule): DynamicModule {
    return { module: ProductsModule, imports: [requests] };
  }
}
