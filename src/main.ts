import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { ConfigValidationError, loadConfig } from './config/app-config.js';
import { prepareDatabase } from './database/prepare-database.js';
import { createHttpApp, createWorkerContext } from './bootstrap.js';

async function main(): Promise<void> {
  const logger = new Logger('pixbatch');
  const config = loadConfig();
  await prepareDatabase(config.databaseUrl);
  if (config.role === 'worker') {
    if (config.metricsPort === null) {
      await createWorkerContext(config);
      logger.log('Worker started');
      return;
    }
    // Probes and Prometheus need an HTTP port on each worker; only /health and /metrics are served.
    const worker = await createHttpApp(config);
    await worker.listen(config.metricsPort, config.host);
    logger.log(`Worker started; /metrics and /health on ${await worker.getUrl()}`);
    return;
  }
  const app = await createHttpApp(config);
  await app.listen(config.port, config.host);
  logger.log(`pixbatch (${config.role}) listening on ${await app.getUrl()}; API docs at ${config.publicBaseUrl}/docs`);
}

main().catch((error: unknown) => {
  if (error instanceof ConfigValidationError) {
    console.error(error.message);
  } else {
    console.error('pixbatch failed to start:', error);
  }
  process.exit(1);
});
