import { Module } from '@nestjs/common';
import { FilesController } from './files.controller.js';
import { StorageModule } from './storage.module.js';

/** The API role serves output images; the storage driver itself is global (StorageModule). */
@Module({
  imports: [StorageModule],
  controllers: [FilesController],
})
export class FilesModule {}
