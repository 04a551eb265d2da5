import { Module } from '@nestjs/common';
import { RequestImageErrors } from '../requests/request-image-errors.js';
import { RequestImageTransitions } from '../requests/request-image-transitions.js';
import { RequestPausedHosts } from '../requests/request-paused-hosts.js';
import { ImageDispatchRepository } from './image-dispatch.repository.js';
import { ImageWorkRepository } from './image-work.repository.js';
import { ImageRepository } from './image.repository.js';
import { ProductRepository } from './product.repository.js';
import { ReuseRepository } from './reuse.repository.js';

/**
 * The product and image tables' owners, for every role. It also implements
 * three of requests/'s ports: its first errors (RequestImageErrors), its
 * cancel and retry transitions (RequestImageTransitions) and the paused
 * source hosts it waits on (RequestPausedHosts). products/ imports requests/,
 * so requests/ does not import this module: the composition root passes it
 * to RequestsModule.withPorts.
 */
@Module({
  providers: [
    ImageRepository,
    ImageWorkRepository,
    ImageDispatchRepository,
    ProductRepository,
    ReuseRepository,
    { provide: RequestImageErrors, useExisting: ImageRepository },
    { provide: RequestImageTransitions, useExisting: ImageWorkRepository },
    { provide: RequestPausedHosts, useExisting: ImageDispatchRepository },
  ],
  exports: [
    ImageRepository,
    ImageWorkRepository,
    ImageDispatchRepository,
    ProductRepository,
    ReuseRepository,
    RequestImageErrors,
    RequestImageTransitions,
    RequestPausedHosts,
  ],
})
export class ProductsDataModule {}
