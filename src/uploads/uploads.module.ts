import { Module } from '@nestjs/common';
import { IdempotencyService } from './idempotency.service.js';
import { UploadIntake } from './upload-intake.service.js';
import { UploadsController } from './uploads.controller.js';
import { UploadsService } from './uploads.service.js';

@Module({
  controllers: [UploadsController],
  providers: [UploadsService, UploadIntake, IdempotencyService],
})
export class UploadsModule {}
