import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createHttpApp } from '../../src/bootstrap.js';
import { AppConfig, loadConfig } from '../../src/config/app-config.js';
import { prepareDatabase } from '../../src/database/prepare-database.js';
import { ReadinessProbes } from '../../src/health/readiness-probes.js';
import type { CreatedRequestDto } from '../../src/requests/dto/request-status.dto.js';
import { productCsv } from '../factories/csv.factory.js';
import { AppProcess } from '../support/app-process.js';
import { ImageServer } from '../support/image-server.js';
import { Ledger, ledger } from '../support/request-ledger.js';
import { cleanUp, multipart } from '../support/test-app.js';

export interface Api {
  app: NestFastifyApplication;
  config: AppConfig;
  close(): Promise<void>;
}

/** The API role in this process (Fastify inject, no listener); workers run as child processes. */
export async function startApi(env: Record<string, string>): Promise<Api> {
  const config = loadConfig({ ...env, APP_ROLE: 'api' });
  await prepareDatabase(config.databaseUrl);
  const app = await createHttpApp(config);
  await app.init();
  await app.getHttpAdapter().getInstance().ready();
  // Readiness answers 503 until the background probes have run once.
  await app.get(ReadinessProbes).firstRound;
  return {
    app,
    config,
    close: async () => {
      await app.close();
      await cleanUp(config);
    },
  };
}

/** Serves the same photo under `count` paths, each answer `delayMs` late, so a batch stays in flight a while. */
export function slowImages(images: ImageServer, prefix: string, count: number, delayMs: number): string[] {
  return Array.from({ length: count }, (_, index) => {
    const path = `/${prefix}/${index}.jpg`;
    images.route(path, { body: images.images.get('/photo.jpg'), type: 'image/jpeg', delayMs });
    return images.url(path);
  });
}

/** Uploads the URLs as products of `perProduct` images each; returns the request id. */
export async function submit(app: NestFastifyApplication, urls: string[], perProduct = 4): Promise<string> {
  const products = [];
  for (let start = 0; start < urls.length; start += perProduct) {
    products.push({
      serial: products.length + 1,
      name: `SKU${products.length + 1}`,
      urls: urls.slice(start, start + perProduct),
    });
  }
  const response = await app.inject({
    method: 'POST',
    url: '/api/v1/requests',
    ...multipart({}, { content: productCsv(products) }),
  });
  if (response.statusCode !== 202) throw new Error(`Upload answered ${response.statusCode}: ${response.body}`);
  return response.json<CreatedRequestDto>().requestId;
}

/** Waits until `count` images of the request are terminal: the batch is under way, not finished. */
export async function waitForProgress(
  databaseUrl: string,
  requestId: string,
  count: number,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const book = await ledger(databaseUrl, requestId);
    if (book.counted.succeeded + book.counted.failed >= count) return;
    if (Date.now() > deadline)
      throw new Error(`Request ${requestId}: fewer than ${count} images done after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Polls the request's row (not the API, which may be down with its database)
 * until it is terminal; on a timeout the error carries the workers' last log lines.
 */
export async function waitForTerminalRow(
  databaseUrl: string,
  requestId: string,
  timeoutMs: number,
  workers: AppProcess[] = [],
): Promise<Ledger> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const book = await ledger(databaseUrl, requestId).catch(() => null);
    if (book && ['completed', 'completed_with_errors', 'failed'].includes(book.status)) return book;
    if (Date.now() > deadline) {
      const tails = workers.map((worker) => `--- ${worker.logFile}\n${worker.log().slice(-4000)}`);
      throw new Error(
        `Request ${requestId} not terminal after ${timeoutMs} ms: ${JSON.stringify(book?.counted)}\n${tails.join('\n')}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

export function seconds(since: number): string {
  return `${((Date.now() - since) / 1000).toFixed(1)} s`;
}
