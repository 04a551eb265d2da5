import { Module } from '@nestjs/common';
import { RequestDeletion } from './request-deletion.service.js';
import { RequestListQuery } from './request-list.query.js';
import { RequestProgressRepository } from './request-progress.repository.js';
import { RequestsService } from './requests.service.js';

/** Requests' providers, for every role; the routes are in RequestsApiModule. */
@Module({
  providers: [RequestsService, RequestProgressRepository, RequestListQuery, RequestDeletion],
  exports: [RequestsService, RequestProgressRepository, RequestListQuery, RequestDeletion],
})
export class RequestsModule {}
