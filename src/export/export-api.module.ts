import { Module } from '@nestjs/common';
import { ArchiveService } from './archive.service.js';
import { ExportController } from './export.controller.js';
import { RequestsModule } from '../requests/requests.module.js';
import { ExportModule } from './export.module.js';

/** The API role's export routes. */
@Module({
  imports: [ExportModule, RequestsModule],
  controllers: [ExportController],
  providers: [ArchiveService],
})
export class ExportApiModule {}
