import { Global, Module } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { LocalStorageDriver } from './local-storage.driver.js';
import { PublicUrls } from './public-urls.js';
import { StorageDriver } from './storage.driver.js';

@Global()
@Module({
  providers: [
    PublicUrls,
    {
      provide: StorageDriver,
      inject: [AppConfig],
      useFactory: (config: AppConfig): StorageDriver => new LocalStorageDriver(config.storageDir),
    },
  ],
  exports: [StorageDriver, PublicUrls],
})
export class StorageModule {}
