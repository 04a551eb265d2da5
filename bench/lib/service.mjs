// Runs the built service (dist/src/main.js) as child processes against its own
// PostgreSQL database, Redis key prefix and storage directory, and removes all
// three afterwards.
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import pg from 'pg';
import { statCpuSeconds, statName } from './report.mjs';

const ROOT = resolve(import.meta.dirname, '../..');
// The bench compiles its own copy (npm run bench), so a build running beside it
// (the test script rebuilds dist/) cannot swap the code out mid-measurement.
const MAIN = join(ROOT, 'bench/.dist/src/main.js');
// The Node.js options `npm start` runs the service with (package.json config.nodeFlags).
const NODE_FLAGS = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8'))
  .config.nodeFlags.split(' ')
  .filter(Boolean);
const POSTGRES = process.env.BENCH_POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432';
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** One isolated deployment: a database, a queue prefix and a storage directory. */
export class BenchEnvironment {
  static async create() {
    const env = new BenchEnvironment();
    env.dir = await mkdtemp(join(tmpdir(), 'pixbatch-bench-'));
    env.database = `pixbatch_bench_${process.pid}`;
    env.queuePrefix = `pixbatch-bench-${process.pid}`;
    env.processes = [];
    env.started = 0;
    // Every process shares the API's port in PUBLIC_BASE_URL, the base of output image URLs.
    env.port = await freePort();
    await env.dropDatabase();
    return env;
  }

  get databaseUrl() {
    return `${POSTGRES}/${this.database}`;
  }

  /** Starts one process of the service; `role` is all, api or worker. */
  async start(role, { env: extraEnv = {}, nodeArgs = [] } = {}) {
    const { port } = this;
    const log = join(this.dir, `${role}-${++this.started}.log`);
    const out = createWriteStream(log);
    const child = spawn(process.execPath, [...NODE_FLAGS, ...nodeArgs, MAIN], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        NODE_ENV: 'production',
        APP_ROLE: role,
        PORT: String(port),
        HOST: '127.0.0.1',
        PUBLIC_BASE_URL: `http://127.0.0.1:${port}`,
        DATABASE_URL: this.databaseUrl,
        REDIS_URL,
        QUEUE_PREFIX: this.queuePrefix,
        STORAGE_DIR: join(this.dir, 'storage'),
        ALLOW_PRIVATE_NETWORKS: 'true',
        ...extraEnv,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    for (const stream of [child.stdout, child.stderr]) {
      stream.on('data', (chunk) => {
        out.write(chunk);
        if (output.length < 100_000) output += chunk;
      });
    }
    const exited = new Promise((done) => child.once('exit', (code, signal) => done({ code, signal })));
    const proc = { role, pid: child.pid, child, port, exited, log, baseUrl: `http://127.0.0.1:${port}` };
    this.processes.push(proc);

    const started = Date.now();
    for (;;) {
      if (child.exitCode !== null) throw new Error(`${role} exited at start:\n${output.slice(-2000)}`);
      if (Date.now() - started > 60_000) throw new Error(`${role} did not start within 60 s:\n${output.slice(-2000)}`);
      if (role === 'worker' ? output.includes('Worker started') : await live(proc.baseUrl)) break;
      await sleep(100);
    }
    return proc;
  }

  async stop(proc) {
    if (proc.child.exitCode === null) {
      proc.child.kill('SIGTERM');
      const timer = setTimeout(() => proc.child.kill('SIGKILL'), 15_000);
      await proc.exited;
      clearTimeout(timer);
    }
    this.processes = this.processes.filter((p) => p !== proc);
  }

  /** Stops every process and removes the database, the Redis keys and the storage (and the logs unless kept). */
  async destroy({ keepLogs = false } = {}) {
    for (const proc of [...this.processes]) await this.stop(proc);
    await this.dropDatabase();
    await this.clearQueues();
    if (keepLogs) {
      await rm(join(this.dir, 'storage'), { recursive: true, force: true });
      console.error(`· service logs kept in ${this.dir}`);
    } else {
      await rm(this.dir, { recursive: true, force: true });
    }
  }

  /** Between scenarios: same database name, fresh contents. */
  async reset() {
    for (const proc of [...this.processes]) await this.stop(proc);
    await this.dropDatabase();
    await this.clearQueues();
    await rm(join(this.dir, 'storage'), { recursive: true, force: true });
  }

  async query(sql, params = []) {
    const client = new pg.Client({ connectionString: this.databaseUrl });
    await client.connect();
    try {
      return (await client.query(sql, params)).rows;
    } finally {
      await client.end();
    }
  }

  async dropDatabase() {
    const client = new pg.Client({ connectionString: `${POSTGRES}/postgres` });
    await client.connect();
    try {
      await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(this.database)} WITH (FORCE)`);
    } finally {
      await client.end();
    }
  }

  async clearQueues() {
    const redis = new Redis(REDIS_URL, { lazyConnect: true });
    await redis.connect();
    try {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${this.queuePrefix}:*`, 'COUNT', 1000);
        if (keys.length > 0) await redis.unlink(...keys);
        cursor = next;
      } while (cursor !== '0');
    } finally {
      redis.disconnect();
    }
  }

  /**
   * Redis memory: `usedMemory`, INFO memory's used_memory (the whole server, so
   * other clients of a shared Redis move it too), and `keys` and `keyBytes`,
   * this deployment's keys (its queue prefix) and what MEMORY USAGE counts for
   * them (every element, not a sample). `url`: another Redis server than the
   * bench's (one the section started for the processes it measures).
   */
  async redisMemory({ url = REDIS_URL } = {}) {
    const redis = new Redis(url, { lazyConnect: true });
    await redis.connect();
    try {
      const info = await redis.info('memory');
      const usedMemory = Number(/^used_memory:(\d+)/m.exec(info)?.[1] ?? NaN);
      let keys = 0;
      let keyBytes = 0;
      let cursor = '0';
      do {
        const [next, found] = await redis.scan(cursor, 'MATCH', `${this.queuePrefix}:*`, 'COUNT', 1000);
        for (const key of found) {
          // A key gone between SCAN and MEMORY USAGE (an expired rate-limit window) answers null.
          const bytes = await redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0');
          if (bytes === null) continue;
          keys++;
          keyBytes += Number(bytes);
        }
        cursor = next;
      } while (cursor !== '0');
      return { usedMemory, keys, keyBytes };
    } finally {
      redis.disconnect();
    }
  }

  async writeFile(name, content) {
    const path = join(this.dir, name);
    await writeFile(path, content);
    return path;
  }
}

// Liveness, not readiness: MikroORM reports itself unconnected until its pool's
// first query, so /health/ready fails on an idle process.
async function live(baseUrl) {
  try {
    const response = await fetch(`${baseUrl}/health/live`);
    await response.arrayBuffer();
    return response.ok;
  } catch {
    return false;
  }
}

export function freePort() {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });
}

/** Uploads a CSV (as a tenant with e.g. `{ headers: { 'x-api-key': key } }`); resolves with the response and the time to the 202. */
export async function upload(baseUrl, csv, fields = {}, { headers = {} } = {}) {
  const form = new FormData();
  form.set('file', new Blob([csv], { type: 'text/csv' }), 'products.csv');
  for (const [name, value] of Object.entries(fields)) form.set(name, String(value));
  const started = performance.now();
  const response = await fetch(`${baseUrl}/api/v1/requests`, { method: 'POST', body: form, headers });
  const body = await response.json();
  const ackMs = performance.now() - started;
  if (response.status !== 202) throw new Error(`upload answered ${response.status}: ${JSON.stringify(body)}`);
  return { ...body, ackMs, startedAt: Date.now() - ackMs };
}

/** Polls the status endpoint until the request is terminal. */
export async function waitForTerminal(
  baseUrl,
  requestId,
  { intervalMs = 200, timeoutMs = 600_000, headers = {} } = {},
) {
  const started = Date.now();
  for (;;) {
    const response = await fetch(`${baseUrl}/api/v1/requests/${requestId}`, { headers });
    const status = await response.json();
    if (status.completed) return status;
    if (Date.now() - started > timeoutMs) throw new Error(`request ${requestId} not terminal after ${timeoutMs} ms`);
    await sleep(intervalMs);
  }
}

/** Memory and CPU of a process from /proc (Linux); `mainCpuSeconds` is its JavaScript thread's share. */
export async function processStats(pid) {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return {
    rssMb: kb('VmRSS') / 1024,
    peakMb: kb('VmHWM') / 1024,
    cpuSeconds: await cpuSeconds(`/proc/${pid}/stat`),
    mainCpuSeconds: await cpuSeconds(`/proc/${pid}/task/${pid}/stat`),
  };
}

/** Kinds of thread by the name Node.js, libuv and libvips give them. */
export const THREAD_KINDS = [
  ['libvips', 'libvips'],
  ['libuv', 'libuv pool'],
  ['V8', 'V8 helpers'],
];

/**
 * CPU seconds of a process's live threads by kind: libvips (the encoder's
 * pixels), libuv's pool (sharp's calls into libvips, which decode and write,
 * and file I/O), V8's helpers (garbage collection, compiling). The kinds
 * tell a pipeline's own work from the encoder's, and show when a whole run
 * was slower (the same images cost more CPU in libvips) rather than the
 * service heavier.
 */
export async function threadCpuSeconds(pid) {
  const kinds = Object.fromEntries(THREAD_KINDS.map(([, kind]) => [kind, 0]));
  for (const tid of await readdir(`/proc/${pid}/task`)) {
    if (tid === String(pid)) continue;
    // A thread may end between the listing and the read.
    const stat = await readFile(`/proc/${pid}/task/${tid}/stat`, 'utf8').catch(() => null);
    const kind = stat && THREAD_KINDS.find(([prefix]) => statName(stat).startsWith(prefix))?.[1];
    if (kind) kinds[kind] += statCpuSeconds(stat);
  }
  return kinds;
}

/** processStats, and the process's CPU by kind of thread (`threadCpuSeconds`): for the throughput sections. */
export async function processAndThreadStats(pid) {
  return { ...(await processStats(pid)), threadCpuSeconds: await threadCpuSeconds(pid) };
}

async function cpuSeconds(statPath) {
  return statCpuSeconds(await readFile(statPath, 'utf8'));
}

/** Resets the kernel's peak-RSS mark, so VmHWM covers only what follows. */
export async function resetPeak(pid) {
  await writeFile(`/proc/${pid}/clear_refs`, '5');
}

/** A CSV of `rows` products with `perRow` URLs each, taken round-robin from `urls`. */
export function productCsv(rows, perRow, urls) {
  const lines = ['S. No.,Product Name,Input Image Urls'];
  let next = 0;
  for (let row = 1; row <= rows; row++) {
    const cell = [];
    for (let k = 0; k < perRow; k++) cell.push(urls[next++ % urls.length]);
    lines.push(`${row},Product ${row},"${cell.join(',')}"`);
  }
  return `${lines.join('\n')}\n`;
}
