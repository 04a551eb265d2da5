// A private redis-server on loopback, for measurements that read the server's
// own figures (INFO memory): the shared Redis also holds other clients' keys.
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { freePort } from './service.mjs';

/** Starts redis-server without persistence; resolves with its URL and close(), or null when it is not installed. */
export async function startRedisServer() {
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const spawned = await new Promise((done) => {
    child.once('spawn', () => done(null));
    child.once('error', (error) => done(error));
  });
  if (spawned?.code === 'ENOENT') return null;
  if (spawned) throw spawned;
  let output = '';
  for (const stream of [child.stdout, child.stderr]) stream.on('data', (chunk) => (output += chunk));
  const exited = new Promise((done) => child.once('close', done));
  // Not left behind by a bench that exits early (its deadline, an uncaught error).
  const orphaned = () => child.exitCode === null && child.kill('SIGKILL');
  process.once('exit', orphaned);
  const close = async () => {
    process.off('exit', orphaned);
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
  };
  const url = `redis://127.0.0.1:${port}`;
  for (const started = Date.now(); ; await sleep(100)) {
    if (child.exitCode !== null || Date.now() - started > 10_000) {
      await close();
      throw new Error(`redis-server did not start (within 10 s):\n${output.slice(-2000)}`);
    }
    const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0 });
    redis.on('error', () => undefined);
    try {
      await redis.connect();
      if ((await redis.ping()) === 'PONG') break;
    } catch {
      // Not listening yet.
    } finally {
      redis.disconnect();
    }
  }
  return { url, close };
}
