import { DynamicModule, Module } from '@nestjs/common';
import { RetentionSweeper } from './retention.sweeper.js';

/** The worker role's retention sweep. */
@Module({
  providers: [RetentionSweeper],
})
export class RequestRetentionModule {
  /** `requests`: the one RequestsModule the composition root (app.module.ts) builds. */
  static withRequests(requests: DynamicModule): DynamicModule {
    return { module: RequestRetentionModule, imports: [requests] };
  }
}
