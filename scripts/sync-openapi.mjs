#!/usr/bin/env node
// Writes openapi.json from the compiled app (run `npm run build` first, as
// `npm run openapi` does). Nest's preview mode builds the module graph without
// instantiating providers, so no PostgreSQL or Redis is needed: the document
// comes from controller and DTO metadata alone.
//   node scripts/sync-openapi.mjs [out-file]
import 'reflect-metadata';
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { AppModule } from '../dist/src/app.module.js';
import { loadConfig } from '../dist/src/config/app-config.js';
import { createOpenApiDocument, serializeOpenApi } from '../dist/src/openapi-document.js';

const out = resolve(process.argv[2] ?? 'openapi.json');
// A fixed environment: the document must not change with whoever runs the script.
const app = await NestFactory.create(AppModule.forConfig(loadConfig({ APP_ROLE: 'all' })), new FastifyAdapter(), {
  preview: true,
  logger: ['error'],
});
await writeFile(out, serializeOpenApi(createOpenApiDocument(app)));
await app.close();
console.log(`wrote ${out}`);
