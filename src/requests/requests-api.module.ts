import { Module } from '@nestjs/common';
import { RequestsController } from './requests.controller.js';
import { RequestsModule } from './requests.module.js';

/** The API role's request routes. */
@Module({
  imports: [RequestsModule],
  controllers: [RequestsController],
})
export class RequestsApiModule {}
