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
          useFactory: (config: AppConfig) => ({
            ...ormOptions(config.databaseUrl, entities),
            // No EntityManager forked for every HTTP request: every handler and
            // repository works in a context of its own (em.fork()), and the global
            // one refuses context-specific calls (allowGlobalContext: false), so
            // nothing reads the request's. A CPU profile put it at about 0.03 ms of
            // a status GET's 1.2 ms, with more garbage per request besides
            // (bench/README.md, "The dispatch pass prepared").
            registerRequestContext: false,
          }),
        }),
      ],
    };
  }
}
