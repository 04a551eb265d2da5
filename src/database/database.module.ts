import { MikroOrmModule } from '@mikro-orm/nestjs';
import { type Options, PostgreSqlDriver } from '@mikro-orm/postgresql';
import { DynamicModule, Module } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { ormOptions } from './orm-options.js';
import { PreparedStatements } from './prepared-statements.js';

@Module({})
export class DatabaseModule {
  /** `entities` from the composition root (src/entities.ts): database/ knows no feature. */
  static forRoot(entities: Options['entities']): DynamicModule {
    return {
      module: DatabaseModule,
      global: true,
      providers: [PreparedStatements],
      exports: [PreparedStatements],
      imports: [
        MikroOrmModule.forRootAsync({
          inject: [AppConfig],
          driver: PostgreSqlDriver,
          useFactory: (config: AppConfig) => ormOptions(config.databaseUrl, entities),
        }),
      ],
    };
  }
}
