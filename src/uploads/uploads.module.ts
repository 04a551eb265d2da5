import { Module } from '@nestjs/common';
import { RequestsModule } from '../requests/requests.module.js';
import { IdempotencyService } from './idempotency.service.js';
import { UploadIntake } from './upload-intake.service.js';
import { UploadsController } from './uploads.controller.js';
import { UploadsService } from './uploads.service.js';

@Module({
  imports: [RequestsModule],
  controllers: [UploadsController],
  providers: [UploadsService, UploadIntake, IdempotencyService],
})
export class UploadsModule {}
