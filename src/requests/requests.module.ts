import { Global, Module } from '@nestjs/common';
import { RequestOwners } from '../security/request-owners.js';
import { RequestDeletion } from './request-deletion.service.js';
import { RequestFinalizer } from './request-finalizer.service.js';
import { RequestListQuery } from './request-list.query.js';
import { RequestRepository } from './request.repository.js';
import { RequestsService } from './requests.service.js';

/**
 * Requests' providers, for every role; the routes are in RequestsApiModule.
 * Global, because the API-wide tenant guard (security/) asks it who owns a request.
 */
@Global()
@Module({
  providers: [
    RequestsService,
    RequestRepository,
    RequestFinalizer,
    RequestListQuery,
    RequestDeletion,
    { provide: RequestOwners, useExisting: RequestRepository },
  ],
  exports: [RequestsService, RequestRepository, RequestFinalizer, RequestListQuery, RequestDeletion, RequestOwners],
})
export class RequestsModule {}
