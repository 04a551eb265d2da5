import { Module } from '@nestjs/common';
import { RequestFinalizer } from './request-finalizer.service.js';
import { RequestRepository } from './request.repository.js';
import { RequestsService } from './requests.service.js';

/** Requests' providers, for every role; the routes are in RequestsApiModule. */
@Module({
  providers: [RequestsService, RequestRepository, RequestFinalizer],
  exports: [RequestsService, RequestRepository, RequestFinalizer],
})
export class RequestsModule {}
