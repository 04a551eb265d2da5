import { Global, Logger, Module, OnApplicationBootstrap } from '@nestjs/common';
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

/**
 * Says at boot, in one line, when the store cannot take a write (a wrong
 * bucket, refused credentials, an unreachable endpoint). The process keeps
 * running and readiness fails with the same reason, so a bucket created a
 * moment later (compose's one-shot service) needs no restart.
 */
class StorageBootCheck implements OnApplicationBootstrap {
  private readonly logger = new Logger('Storage');

  constructor(
    private readonly storage: StorageDriver,
    private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    // Not awaited: a slow store (or the SDK's credential chain timing out) must not hold up the boot.
    void this.check();
  }

  private async check(): Promise<void> {
    try {
      await this.storage.checkWritable();
      this.logger.log(`Storage: ${this.config.s3 ? `S3 bucket "${this.config.s3.bucket}"` : this.config.storageDir}`);
    } catch (error) {
      this.logger.error(`Storage is not usable; /health/ready fails until it is: ${(error as Error).message}`);
    }
  }
}

@Global()
@Module({
  providers: [
    PublicUrls,
    { provide: StorageDriver, inject: [AppConfig], useFactory: createStorageDriver },
    {
      provide: StorageBootCheck,
      inject: [StorageDriver, AppConfig],
      useFactory: (s: StorageDriver, c: AppConfig) => new StorageBootCheck(s, c),
    },
  ],
  exports: [StorageDriver, PublicUrls],
})
export class StorageModule {}
