import { DynamicModule, Module, ModuleMetadata } from '@nestjs/common';
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
 * It binds security/'s RequestOwners port, which the API-wide tenant guard asks.
 */
@Module({
  imports: [StorageModule],
  providers: [...PROVIDERS, { provide: RequestOwners, useExisting: RequestRepository }],
  exports: [...PROVIDERS, RequestOwners],
})
export class RequestsModule {
  /**
   * `implementations` export the ports requests/ declares: RequestImageErrors,
   * RequestImageTransitions and RequestPausedHosts (ProductsDataModule),
   * RequestEventOutbox and RequestWebhookState (WebhooksModule). products/ and
   * webhooks/ import requests/, so requests/ may not import them back: the
   * composition root (app.module.ts) names them, builds this module once and
   * passes that one module to every module that uses requests' providers.
   */
  static withPorts(implementations: NonNullable<ModuleMetadata['imports']>): DynamicModule {
    return { module: RequestsModule, imports: implementations };
  }
}
