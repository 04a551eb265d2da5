import { DynamicModule, Module } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { ProductsDataModule } from '../products/products-data.module.js';
import { ImageFetcher } from './fetch/image-fetcher.js';
import { ChunkJobProcessor } from './chunk-job.processor.js';
import { Dispatcher } from './dispatcher.js';
import { FinalizeRequestProcessor } from './finalize-request.processor.js';
import { ImageRetryPolicy } from './image-retry-policy.js';
import { StuckWorkSweeper } from './stuck-work.sweeper.js';
import { ImageTransformer, imageTransformerOptions } from './transform/image-transformer.js';
import { StorageModule } from '../storage/storage.module.js';

/** The worker role's jobs: dispatching and processing chunks of images, and the finalize jobs that RequestFinalizer (requests/) carries out. */
@Module({
  imports: [StorageModule, ProductsDataModule],
  providers: [
    {
      provide: ImageFetcher,
      inject: [AppConfig],
      useFactory: (config: AppConfig) =>
        new ImageFetcher({
          timeoutMs: config.limits.fetchTimeoutMs,
          maxBytes: config.limits.imageBytes,
          maxRedirects: config.limits.redirects,
          allowPrivateNetworks: config.allowPrivateNetworks,
        }),
    },
    {
      provide: ImageTransformer,
      inject: [AppConfig],
      useFactory: (config: AppConfig) => new ImageTransformer(imageTransformerOptions(config)),
    },
    ChunkJobProcessor,
    Dispatcher,
    FinalizeRequestProcessor,
    { provide: ImageRetryPolicy, inject: [AppConfig], useFactory: (config: AppConfig) => new ImageRetryPolicy(config) },
    StuckWorkSweeper,
  ],
})
export class ProcessingModule {
  /** `requests`: the one RequestsModule the composition root (app.module.ts) builds. */
  static withRequests(requests: DynamicModule): DynamicModule {
    return { module: ProcessingModule, imports: [requests] };
  }
}
