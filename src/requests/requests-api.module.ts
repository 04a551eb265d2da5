import { DynamicModule, Module } from '@nestjs/common';
import { RequestsController } from './requests.controller.js';

/** The API role's request routes. */
@Module({
  controllers: [RequestsController],
})
export class RequestsApiModule {
  /** `requests`: the one RequestsModule the composition root (app.module.ts) builds. */
  static withRequests(requests: DynamicModule): DynamicModule {
    return { module: RequestsApiModule, imports: [requests] };
  }
}
