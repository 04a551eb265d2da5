import { Module } from '@nestjs/common';
import { RequestsModule } from '../requests/requests.module.js';
import { ProductsController } from './products.controller.js';
import { ProductsService } from './products.service.js';

@Module({
  imports: [RequestsModule],
  controllers: [ProductsController],
  providers: [ProductsService],
})
export class ProductsModule {}
