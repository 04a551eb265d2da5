import { Module } from '@nestjs/common';
import { join } from 'node:path';
import { AppConfig } from '../config/app-config.js';
import { LocalStorageDriver } from './local-storage.driver.js';
import { PublicUrls } from './public-urls.js';
import { StorageDriver } from './storage.driver.js';

export async function createStorageDriver(config: AppConfig): Promise<StorageDriver> {
  if (config.s3) {
    // Loaded only when chosen: the AWS SDK adds seconds to every start on a busy machine.
    const { S3StorageDriver } = await import('./s3-storage.driver.js');
    // Scratch files stay on this host: STORAGE_DIR is never shared between hosts with S3.
    return new S3StorageDriver(config.s3, join(config.storageDir, '.scratch'));
  }
  return new LocalStorageDriver(config.storageDir);
}

/** The storage driver and public URLs, imported by each module that reads or writes outputs. */
@Module({
  providers: [PublicUrls, { provide: StorageDriver, inject: [AppConfig], useFactory: createStorageDriver }],
  exports: [StorageDriver, PublicUrls],
})
export class StorageModule {}
