import { Module } from '@nestjs/common';
import { RequestsModule } from '../requests/requests.module.js';
import { ProductsController } from './products.controller.js';
import { ProductsService } from './products.service.js';
import { StorageModule } from '../storage/storage.module.js';

@Module({
  imports: [StorageModule, RequestsModule],
  controllers: [ProductsController],
  providers: [ProductsService],
})
export class ProductsModule {}
