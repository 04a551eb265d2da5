import type { IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from 'node:http';
import { startLoopbackServer, stopLoopbackServer } from './loopback-server.js';

export interface Reply {
  status?: number;
  headers?: Record<string, string>;
  body?: string;
  delayMs?: number;
  /** Never answer: the attempt has to time out. */
  hang?: boolean;
}

export interface ReceivedWebhook {
  headers: IncomingHttpHeaders;
  /** The raw body, exactly as it arrived: what a verifier must be given. */
  body: string;
  receivedAt: number;
}

/**
 * A webhook endpoint on 127.0.0.1 whose answer each test scripts per path
 * (fixed, or by hit number). It keeps every request and counts how many
 * deliveries of one event (one webhook-id) were in flight at the same time.
 */
export class WebhookReceiver {
  private readonly replies = new Map<string, Reply | ((hit: number) => Reply)>();
  private readonly receivedByPath = new Map<string, ReceivedWebhook[]>();
  private readonly inFlight = new Map<string, number>();
  private readonly waiters = new Set<() => void>();
  private server?: Server;
  /** The highest number of concurrent requests seen for any single webhook-id. */
  maxConcurrentPerEvent = 0;
  baseUrl = '';

  static async start(): Promise<WebhookReceiver> {
    const receiver = new WebhookReceiver();
    await receiver.listen();
    return receiver;
  }

  url(path: string): string {
    return `${this.baseUrl}${path}`;
  }

  respond(path: string, reply: Reply | ((hit: number) => Reply)): void {
    this.replies.set(path, reply);
  }

  received(path: string): ReceivedWebhook[] {
    return this.receivedByPath.get(path) ?? [];
  }

  /** Resolves once `path` has received `count` requests. */
  async waitFor(path: string, count: number, timeoutMs = 15_000): Promise<ReceivedWebhook[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.received(path).length < count) {
      if (Date.now() > deadline) {
        throw new Error(`${path} received ${this.received(path).length} of ${count} webhooks within ${timeoutMs} ms`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 50);
        this.waiters.add(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.received(path);
  }

  async close(): Promise<void> {
    await stopLoopbackServer(this.server);
  }

  private async listen(): Promise<void> {
    ({ server: this.server, baseUrl: this.baseUrl } = await startLoopbackServer((request, response) =>
      this.handle(request, response),
    ));
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = (request.url ?? '/').split('?')[0];
    const eventId = String(request.headers['webhook-id'] ?? '');
    const concurrent = (this.inFlight.get(eventId) ?? 0) + 1;
    this.inFlight.set(eventId, concurrent);
    this.maxConcurrentPerEvent = Math.max(this.maxConcurrentPerEvent, concurrent);
    try {
      const chunks: Buffer[] = [];
      for await (const chunk of request) chunks.push(chunk as Buffer);
      const seen = this.received(path);
      seen.push({ headers: request.headers, body: Buffer.concat(chunks).toString('utf8'), receivedAt: Date.now() });
      this.receivedByPath.set(path, seen);
      for (const wake of this.waiters) wake();
      this.waiters.clear();

      const entry = this.replies.get(path) ?? { status: 200, body: 'ok' };
      const reply = typeof entry === 'function' ? entry(seen.length) : entry;
      if (reply.hang) {
        await new Promise<void>((resolve) => response.once('close', resolve));
        return;
      }
      // unref: an answer to a client that is gone must not keep the test run alive.
      if (reply.delayMs) await new Promise((resolve) => setTimeout(resolve, reply.delayMs).unref());
      if (response.destroyed) return;
      response.writeHead(reply.status ?? 200, { 'content-type': 'text/plain', ...reply.headers });
      response.end(reply.body ?? '');
    } finally {
      this.inFlight.set(eventId, (this.inFlight.get(eventId) ?? 1) - 1);
    }
  }
}
