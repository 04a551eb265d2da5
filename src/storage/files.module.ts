import { Module } from '@nestjs/common';
import { FilesController } from './files.controller.js';

/** The API role serves output images; the storage driver itself is global (StorageModule). */
@Module({
  controllers: [FilesController],
})
export class FilesModule {}
