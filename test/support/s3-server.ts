import { mkdtempSync } from 'node:fs';
import type { Server } from 'node:http';
import { rm } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { startLoopbackServer, stopLoopbackServer } from './loopback-server.js';

/**
 * A real S3-protocol server (s3rver) on 127.0.0.1, in this process, with its
 * objects in a temporary folder. It can be stopped and started again on the
 * same port with the same objects, to play an outage of the store.
 */
export class S3Server {
  private server?: S3rver;
  port = 0;

  private constructor(
    readonly directory: string,
    readonly buckets: string[],
  ) {}

  static async start(buckets: string[] = ['pixbatch']): Promise<S3Server> {
    const s3 = new S3Server(mkdtempSync(join(tmpdir(), 'pixbatch-s3rver-')), buckets);
    await s3.resume();
    return s3;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The service's settings for this server (s3rver accepts any credentials). */
  env(bucket = this.buckets[0], overrides: Record<string, string> = {}): Record<string, string> {
    return {
      STORAGE_DRIVER: 's3',
      S3_BUCKET: bucket,
      S3_ENDPOINT: this.endpoint,
      S3_REGION: 'us-east-1',
      S3_ACCESS_KEY_ID: 'S3RVER',
      S3_SECRET_ACCESS_KEY: 'S3RVER',
      S3_FORCE_PATH_STYLE: 'true',
      ...overrides,
    };
  }

  /** A client of its own, to look at the bucket behind the service's back. */
  client(): S3Client {
    return new S3Client({
      region: 'us-east-1',
      endpoint: this.endpoint,
      forcePathStyle: true,
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    });
  }

  async keys(bucket: string, prefix = ''): Promise<string[]> {
    const client = this.client();
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await client.send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
      );
      keys.push(...(page.Contents ?? []).map((object) => object.Key!));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    client.destroy();
    return keys;
  }

  /**
   * The store goes away: open connections are cut and new ones refused until
   * resume(). Cut, not drained: clients that keep theirs alive and busy (each
   * process's readiness probe reads every 2 s) would hold a draining close open
   * for ever.
   */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    const closed = server.close();
    (server as unknown as { httpServer?: Server }).httpServer?.closeAllConnections();
    await closed;
  }

  /** Starts (again), on the same port once it has one, with the objects stored so far. */
  async resume(): Promise<void> {
    this.server = new S3rver({
      address: '127.0.0.1',
      port: this.port,
      silent: true,
      directory: this.directory,
      configureBuckets: this.buckets.map((name) => ({ name })),
    });
    const address = await this.server.run();
    this.port = address.port;
  }

  async close(): Promise<void> {
    await this.stop();
    await rm(this.directory, { recursive: true, force: true });
  }
}

/** An S3 endpoint that refuses every request as AWS does for a key without permission. */
export async function startAccessDeniedStub(): Promise<{ endpoint: string; close: () => Promise<void> }> {
  const { server, baseUrl } = await startLoopbackServer(async (request, response) => {
    request.resume();
    await new Promise((resolve) => request.once('end', resolve));
    const body =
      '<?xml version="1.0" encoding="UTF-8"?>\n' +
      '<Error><Code>AccessDenied</Code><Message>Access Denied</Message><RequestId>STUB</RequestId></Error>';
    response.writeHead(403, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
    response.end(request.method === 'HEAD' ? undefined : body);
  });
  return { endpoint: baseUrl, close: () => stopLoopbackServer(server) };
}

/** Forwards every request to `target` and counts them: what the service asked of the store. */
export async function startCountingProxy(
  target: string,
): Promise<{ endpoint: string; requests: () => number; close: () => Promise<void> }> {
  let requests = 0;
  const { server, baseUrl } = await startLoopbackServer(async (request, response) => {
    requests++;
    const upstream = httpRequest(new URL(request.url ?? '/', target), {
      method: request.method,
      headers: request.headers,
    });
    upstream.on('response', (answer) => {
      response.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(response);
    });
    upstream.on('error', () => response.destroy());
    request.pipe(upstream);
    await new Promise((resolve) => response.once('close', resolve));
  });
  return { endpoint: baseUrl, requests: () => requests, close: () => stopLoopbackServer(server) };
}
