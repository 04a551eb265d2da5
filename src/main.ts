// First: V8's heap settings apply before the rest of the service is evaluated.
import './heap-growth.js';
import 'reflect-metadata';
import type { AddressInfo } from 'node:net';
import { Logger } from '@nestjs/common';
import { Logger as PinoNestLogger, PinoLogger } from 'nestjs-pino';
import { AppConfig, ConfigValidationError, loadConfig } from './config/app-config.js';
import { prepareDatabase } from './database/prepare-database.js';
import { createHttpApp, createWorkerContext } from './bootstrap.js';
import { pinoHttpOptions } from './observability/observability.module.js';

async function main(): Promise<void> {
  const config = loadConfig();
  // Migrations log before any Nest application exists; without this they would
  // come out in Nest's coloured console format ahead of the JSON lines.
  Logger.overrideLogger(new PinoNestLogger(new PinoLogger({ pinoHttp: pinoHttpOptions(config) }), {}));
  const logger = new Logger('pixbatch');
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
    logger.log(`Worker started; /metrics and /health on ${boundAddress(worker.getHttpServer().address())}`);
    return;
  }
  const app = await createHttpApp(config);
  await app.listen(config.port, config.host);
  const address = app.getHttpServer().address();
  logger.log(
    `pixbatch (${config.role}) listening on ${boundAddress(address)}; API docs at ${config.publicBaseUrl}/docs`,
  );
  warnOnLocalPublicBaseUrl(config, address, logger);
  logAccessMode(config, logger);
}

/** Which clients the API serves, and why: the answer to "why do I get 403?" belongs in the first lines of the log. */
function logAccessMode(config: AppConfig, logger: Logger): void {
  if (config.accessMode === 'keys') {
    const tenants = new Set(config.apiKeys.values()).size;
    logger.log(`API keys required (API_KEYS holds ${config.apiKeys.size} keys for ${tenants} tenants)`);
  } else if (config.accessMode === 'protected') {
    logger.warn(
      'Protected mode: API_KEYS is not set, so the API serves only clients on this machine (loopback, not forwarded ' +
        'by a proxy); others get 403 PROTECTED_MODE. Set API_KEYS to serve other machines, or PROTECTED_MODE=off ' +
        'to serve everyone without keys.',
    );
  } else {
    logger.warn(
      'Open mode: API_KEYS is not set and PROTECTED_MODE=off, so anyone who reaches this port can list, export, ' +
        'cancel and delete every request.',
    );
  }
}

/** What the socket is really bound to (PORT=0 picks a free port; HOST may be :: or 0.0.0.0). */
function boundAddress(address: AddressInfo | string | null): string {
  if (address === null || typeof address === 'string') return String(address);
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `http://${host}:${address.port}`;
}

const LOOPBACK = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\]|::1)$/i;

/**
 * Links in responses, webhooks and exports are built from PUBLIC_BASE_URL; a
 * localhost one is wrong for every caller that reaches the server from elsewhere.
 */
function warnOnLocalPublicBaseUrl(config: AppConfig, address: AddressInfo | string | null, logger: Logger): void {
  if (address === null || typeof address === 'string') return;
  const publicHost = new URL(config.publicBaseUrl).hostname;
  if (!LOOPBACK.test(publicHost) || LOOPBACK.test(address.address)) return;
  logger.warn(
    `PUBLIC_BASE_URL is ${config.publicBaseUrl} but the server listens on ${address.address}, beyond loopback: ` +
      'links to output files and exports will point at localhost for every other machine. Set PUBLIC_BASE_URL to the address clients use.',
  );
}

main().catch((error: unknown) => {
  if (error instanceof ConfigValidationError) {
    console.error(error.message);
  } else {
    console.error('pixbatch failed to start:', error);
  }
  process.exit(1);
});
