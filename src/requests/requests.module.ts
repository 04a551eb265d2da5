import { Module } from '@nestjs/common';
import { RequestDeletion } from './request-deletion.service.js';
import { RequestEventHub, RequestEventStreams } from './request-events.service.js';
import { RequestLifecycle } from './request-lifecycle.service.js';
import { RequestFinalizer } from './request-finalizer.service.js';
import { RequestListQuery } from './request-list.query.js';
import { RequestRepository } from './request.repository.js';
import { RequestsService } from './requests.service.js';

const PROVIDERS = [
  RequestsService,
  RequestRepository,
  RequestFinalizer,
  RequestListQuery,
  RequestDeletion,
  RequestLifecycle,
  RequestEventHub,
  RequestEventStreams,
];

/** Requests' providers, for every role; the routes are in RequestsApiModule. */
@Module({
  providers: PROVIDERS,
  exports: PROVIDERS,
})
export class RequestsModule {}
