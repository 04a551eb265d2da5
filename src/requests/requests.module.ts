import { Module } from '@nestjs/common';
import { RequestProgressRepository } from './request-progress.repository.js';
import { RequestsController } from './requests.controller.js';
import { RequestsService } from './requests.service.js';

@Module({
  controllers: [RequestsController],
  providers: [RequestsService, RequestProgressRepository],
  exports: [RequestsService, RequestProgressRepository],
})
export class RequestsModule {}
