import { ReflectMetadataProvider } from '@mikro-orm/decorators/legacy';
import { Migrator } from '@mikro-orm/migrations';
import { defineConfig } from '@mikro-orm/postgresql';
import { Image } from '../products/image.entity.js';
import { Product } from '../products/product.entity.js';
import { ProcessingRequest } from '../requests/processing-request.entity.js';
import { WebhookAttempt } from '../webhooks/webhook-attempt.entity.js';
import { WebhookDelivery } from '../webhooks/webhook-delivery.entity.js';
import { migrationsList } from './migrations/index.js';

export const ENTITIES = [ProcessingRequest, Product, Image, WebhookDelivery, WebhookAttempt];

/**
 * One ORM configuration for the app, the tests and the CLI. Entities and
 * migrations are listed explicitly so the compiled app never globs the disk.
 */
export function ormOptions(databaseUrl: string) {
  return defineConfig({
    clientUrl: databaseUrl,
    entities: ENTITIES,
    metadataProvider: ReflectMetadataProvider,
    extensions: [Migrator],
    migrations: {
      // Where `npm run migration:create` writes new files; the app runs migrationsList.
      path: 'src/database/migrations',
      tableName: 'mikro_orm_migrations',
      migrationsList,
      snapshotOnMigrate: false,
      // prepareDatabase logs what was applied, through the app's logger.
      silent: true,
    },
    pool: { min: 0, max: 10 },
    allowGlobalContext: false,
  });
}
