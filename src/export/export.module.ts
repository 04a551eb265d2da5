import { Module } from '@nestjs/common';
import { RequestsModule } from '../requests/requests.module.js';
import { ExportService } from './export.service.js';

/** The result CSV, for every role; the route is in ExportApiModule. */
@Module({
  imports: [RequestsModule],
  providers: [ExportService],
  exports: [ExportService],
})
export class ExportModule {}
