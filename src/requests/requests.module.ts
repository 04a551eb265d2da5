import { Module } from '@nestjs/common';
import { RequestProgressRepository } from './request-progress.repository.js';
import { RequestsService } from './requests.service.js';

/** Requests' providers, for every role; the routes are in RequestsApiModule. */
@Module({
  providers: [RequestsService, RequestProgressRepository],
  exports: [RequestsService, RequestProgressRepository],
})
export class RequestsModule {}
