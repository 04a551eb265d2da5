// Entry point for the MikroORM CLI (`npm run migration:create`).
import { loadConfig } from './src/config/app-config.js';
import { ormOptions } from './src/database/orm-options.js';
import { ENTITIES } from './src/entities.js';

export default ormOptions(loadConfig().databaseUrl, ENTITIES);
