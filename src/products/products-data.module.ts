import { Global, Module } from '@nestjs/common';
import { RequestImageErrors } from '../requests/request-image-errors.js';
import { RequestImageTransitions } from '../requests/request-image-transitions.js';
import { ImageWorkRepository } from './image-work.repository.js';
import { ImageRepository } from './image.repository.js';
import { ProductRepository } from './product.repository.js';

/**
 * The product and image tables' owners, for every role. Global so that
 * requests/ gets its first errors (RequestImageErrors) and its cancel and
 * retry transitions (RequestImageTransitions) without importing
 * products/, which already depends on requests/.
 */
@Global()
@Module({
  providers: [
    ImageRepository,
    ImageWorkRepository,
    ProductRepository,
    { provide: RequestImageErrors, useExisting: ImageRepository },
    { provide: RequestImageTransitions, useExisting: ImageWorkRepository },
  ],
  exports: [ImageRepository, ImageWorkRepository, ProductRepository, RequestImageErrors, RequestImageTransitions],
})
export class ProductsDataModule {}
