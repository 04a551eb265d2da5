import { rm } from 'node:fs/promises';
import { Redis } from 'ioredis';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createHttpApp } from '../../src/bootstrap.js';
import { AppConfig } from '../../src/config/app-config.js';
import { prepareDatabase } from '../../src/database/prepare-database.js';
import { ReadinessProbes } from '../../src/health/readiness-probes.js';
import type { RequestStatusDto } from '../../src/requests/dto/request-status.dto.js';
import { testConfig } from './test-env.js';

export interface TestApp {
  app: NestFastifyApplication;
  config: AppConfig;
  close(): Promise<void>;
}

/** Boots the whole application (API + worker) on Fastify without a network listener. */
export async function startTestApp(overrides: Record<string, string> = {}): Promise<TestApp> {
  const config = testConfig(overrides);
  await prepareDatabase(config.databaseUrl);
  const app = await createHttpApp(config);
  try {
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
    // Readiness answers 503 until the background probes have run once.
    await app.get(ReadinessProbes).firstRound;
  } catch (error) {
    await app.close();
    throw error;
  }
  return {
    app,
    config,
    close: async () => {
      await app.close();
      await cleanUp(config);
    },
  };
}

/** Removes what a suite left in Redis (its queue prefix) and on disk. */
export async function cleanUp(config: AppConfig): Promise<void> {
  const redis = new Redis(config.redisUrl);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${config.queuePrefix}:*`, 'COUNT', 1000);
      if (keys.length) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  await rm(config.storageDir, { recursive: true, force: true });
}

export interface UploadFile {
  content: string | Buffer;
  filename?: string;
  contentType?: string;
}

/** A multipart/form-data body built by hand, so tests control every byte. */
export function multipart(fields: Record<string, string>, file?: UploadFile, fileField = 'file') {
  const boundary = `----pixbatch${Math.random().toString(16).slice(2)}`;
  const chunks: Buffer[] = [];
  for (const [name, value] of Object.entries(fields)) {
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`));
  }
  if (file) {
    chunks.push(
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="${fileField}"; filename="${file.filename ?? 'products.csv'}"\r\n` +
          `Content-Type: ${file.contentType ?? 'text/csv'}\r\n\r\n`,
      ),
      Buffer.isBuffer(file.content) ? file.content : Buffer.from(file.content),
      Buffer.from('\r\n'),
    );
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { payload: Buffer.concat(chunks), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}

/** Polls the status endpoint until the request is terminal. */
export async function waitForTerminal(
  app: NestFastifyApplication,
  requestId: string,
  timeoutMs = 60_000,
): Promise<RequestStatusDto> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const response = await app.inject({ method: 'GET', url: `/api/v1/requests/${requestId}` });
    const body = response.json<RequestStatusDto>();
    if (body.completed) return body;
    if (Date.now() > deadline) throw new Error(`Request ${requestId} still ${body.status} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
