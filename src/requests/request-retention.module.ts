import { Module } from '@nestjs/common';
import { RequestsModule } from './requests.module.js';
import { RetentionSweeper } from './retention.sweeper.js';

/** The worker role's retention sweep. */
@Module({
  imports: [RequestsModule],
  providers: [RetentionSweeper],
})
export class RequestRetentionModule {}
