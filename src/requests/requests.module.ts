import { Module } from '@nestjs/common';
import { RequestDeletion } from './request-deletion.service.js';
import { RequestFinalizer } from './request-finalizer.service.js';
import { RequestListQuery } from './request-list.query.js';
import { RequestRepository } from './request.repository.js';
import { RequestsService } from './requests.service.js';

/** Requests' providers, for every role; the routes are in RequestsApiModule. */
@Module({
  providers: [RequestsService, RequestRepository, RequestFinalizer, RequestListQuery, RequestDeletion],
  exports: [RequestsService, RequestRepository, RequestFinalizer, RequestListQuery, RequestDeletion],
})
export class RequestsModule {}
