import { Global, Module } from '@nestjs/common';
import { RequestOwners } from '../security/request-owners.js';
import { RequestDeletion } from './request-deletion.service.js';
import { RequestFinalizer } from './request-finalizer.service.js';
import { RequestLifecycle } from './request-lifecycle.service.js';
import { RequestListQuery } from './request-list.query.js';
import { RequestEventHub, RequestEventStreams } from './request-progress.service.js';
import { RequestRepository } from './request.repository.js';
import { RequestsService } from './requests.service.js';
import { StorageModule } from '../storage/storage.module.js';

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

/**
 * Requests' providers, for every role; the routes are in RequestsApiModule.
 * Global, because the API-wide tenant guard (security/) asks it who owns a request.
 */
@Global()
@Module({
  imports: [StorageModule],
  providers: [...PROVIDERS, { provide: RequestOwners, useExisting: RequestRepository }],
  exports: [...PROVIDERS, RequestOwners],
})
export class RequestsModule {}
