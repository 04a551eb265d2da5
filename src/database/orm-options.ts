import { ReflectMetadataProvider } from '@mikro-orm/decorators/legacy';
import { Migrator } from '@mikro-orm/migrations';
import { type Options, defineConfig } from '@mikro-orm/postgresql';
import { migrationsList } from './migrations/index.js';

/**
 * One ORM configuration for the app, the tests and the CLI. Entities and
 * migrations are listed explicitly so the compiled app never globs the disk;
 * the entities come from the caller (src/entities.ts), since database/ knows
 * no feature. Applying migrations needs none.
 */
export function ormOptions(databaseUrl: string, entities: Options['entities'] = []) {
  return defineConfig({
    clientUrl: databaseUrl,
    entities,
    discovery: { warnWhenNoEntities: entities.length > 0 },
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
