import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import { Logger } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';

/** Paths the page routes itself (web/src/router.ts); each answers index.html. */
export const WEB_PAGE_ROUTES = ['/', '/requests', '/requests/:id'] as const;

/**
 * The built page (dist/web, written by `vite build`). Found from the package
 * root, so the compiled server (dist/src/web) and the TypeScript sources under
 * jest (src/web) serve the same build.
 */
function builtPageDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return join(dir, 'dist', 'web');
}

/**
 * Serves the web page for people at `/` (API role only): hashed assets cached
 * for a year, index.html revalidated on every load so a deploy shows at once.
 * Unknown paths under /assets fall through to the API's 404 problem document.
 */
export async function registerWebPage(app: NestFastifyApplication): Promise<void> {
  const root = builtPageDir();
  const indexFile = join(root, 'index.html');
  if (!existsSync(indexFile)) {
    new Logger('WebPage').warn(
      `The web page is not built (dist/web is missing); run "npm run build" to serve it at /.`,
    );
    return;
  }
  const indexHtml = await readFile(indexFile);
  await app.register(fastifyStatic, {
    root: join(root, 'assets'),
    prefix: '/assets/',
    // index.html is answered from memory below; the plugin only sends hashed files.
    decorateReply: false,
    index: false,
    immutable: true,
    maxAge: '365d',
  });
  const fastify = app.getHttpAdapter().getInstance();
  for (const url of WEB_PAGE_ROUTES) {
    fastify.get(url, (_request, reply) => {
      void reply.header('cache-control', 'no-cache').type('text/html; charset=utf-8').send(indexHtml);
    });
  }
}
