import { Module } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { ExportModule } from '../export/export.module.js';
import { RequestsModule } from '../requests/requests.module.js';
import { ImageFetcher } from './fetch/image-fetcher.js';
import { FinalizeRequestProcessor } from './finalize-request.processor.js';
import { ImageJobProcessor } from './image-job.processor.js';
import { RequestFinalizer } from './request-finalizer.service.js';
import { StuckWorkSweeper } from './stuck-work.sweeper.js';
import { ImageTransformer, imageTransformerOptions } from './transform/image-transformer.js';

/** The worker role: image jobs and request finalization. */
@Module({
  imports: [RequestsModule, ExportModule],
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
    ImageJobProcessor,
    FinalizeRequestProcessor,
    RequestFinalizer,
    StuckWorkSweeper,
  ],
})
export class ProcessingModule {}
