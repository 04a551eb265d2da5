import { ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './free-port.js';
import { waitUntil } from './wait-until.js';

/**
 * A redis-server of the test's own on a spare loopback port, so a test can
 * stop and restart it without touching the machine's shared Redis. Nothing is
 * persisted unless a restart asks to keep the data.
 */
export class PrivateRedis {
  private process?: ChildProcess;

  private constructor(
    readonly port: number,
    private readonly dir: string,
  ) {}

  static async start(): Promise<PrivateRedis> {
    const redis = new PrivateRedis(await freePort(), await mkdtemp(join(tmpdir(), 'pixbatch-redis-')));
    await redis.resume();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /**
   * Stops the server. `keepData` saves a snapshot first, which the next start
   * loads (a restart); otherwise the server is killed and its data is gone
   * (a crash of a Redis without persistence).
   */
  async stop({ keepData }: { keepData: boolean }): Promise<void> {
    const child = this.process;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    if (keepData) {
      const client = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0 });
      await client.connect();
      // SHUTDOWN closes the connection instead of answering.
      await client.call('SHUTDOWN', 'SAVE').catch(() => undefined);
      client.disconnect();
    } else {
      child.kill('SIGKILL');
    }
    await exited;
    this.process = undefined;
  }

  async restart({ keepData }: { keepData: boolean }): Promise<void> {
    await this.stop({ keepData });
    await this.resume();
  }

  async destroy(): Promise<void> {
    await this.stop({ keepData: false });
    await rm(this.dir, { recursive: true, force: true });
  }

  /** Starts the server again after a stop (a no-op while it runs). */
  async resume(): Promise<void> {
    if (this.process) return;
    this.process = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    await waitUntil(`redis-server on port ${this.port}`, async () => {
      const client = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      try {
        await client.connect();
        return (await client.ping()) === 'PONG';
      } finally {
        client.disconnect();
      }
    });
  }
}
