import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { parseApiKeys } from './api-keys.js';
import { parseDurationList } from './duration.js';
import { AppRole, EnvironmentVariables, parseTrustProxy, StorageDriverName, TrustProxy } from './env.dto.js';

export interface Limits {
  csvBytes: number;
  csvRows: number;
  /**
   * How long the rest of an upload may take to arrive once its first rows are
   * stored: a transaction, and so a pooled connection, is open meanwhile.
   */
  uploadTimeoutMs: number;
  urlsPerRow: number;
  urlLength: number;
  imageBytes: number;
  imagePixels: number;
  imageFrames: number;
  /** libvips gives up on one image after this long. */
  imageTimeoutSeconds: number;
  fetchTimeoutMs: number;
  redirects: number;
}

export interface WebhookSettings {
  /**
   * Standard Webhooks keys (`whsec_…`); two during a rotation, and every
   * delivery is then signed with both. Empty: webhooks are off (uploads with
   * a webhookUrl are refused, workers deliver nothing) rather than unsigned.
   */
  signingSecrets: readonly string[];
  /** One deadline per attempt: connect, headers and the (capped) body. */
  timeoutMs: number;
  /** Wait before each retry; a delivery makes at most one attempt more than there are delays. */
  retryDelaysMs: readonly number[];
  /** How often each worker looks for due deliveries whose queue job was lost. */
  sweepIntervalMs: number;
}

/**
 * Who may call the API: `keys` (API_KEYS set: a valid key, one tenant each),
 * `protected` (no keys: loopback clients only, the default) or `open` (no
 * keys and PROTECTED_MODE=off: anyone who reaches the port).
 */
export type AccessMode = 'keys' | 'protected' | 'open';

/** Calls per minute, each 0 for no limit (see RateLimits for whose budget a call draws on). */
export interface RateLimits {
  /** Every call to a route that is not public. */
  requests: number;
  /** CSV uploads and validations, which parse the whole file. */
  uploads: number;
  /** Cancel, retry, delete and redeliver. */
  writes: number;
}

export interface S3Settings {
  bucket: string;
  /** Undefined: AWS S3. */
  endpoint?: string;
  region: string;
  /** Undefined: the SDK's default credential chain (environment, profile, instance role). */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** Path-style URLs (http://host/bucket/key), as MinIO and most self-hosted stores need. */
  forcePathStyle: boolean;
  /** Prepended to every key in the bucket; empty or ending in '/'. */
  prefix: string;
}

/** Typed, validated configuration; injected wherever settings are read. */
export class AppConfig {
  readonly databaseUrl: string;
  readonly redisUrl: string;
  readonly role: AppRole;
  readonly port: number;
  readonly host: string;
  readonly publicBaseUrl: string;
  /** Which proxies' X-Forwarded-For to believe for the client address (rate limits, logs); none by default. */
  readonly trustProxy: TrustProxy;
  readonly storageDriver: StorageDriverName;
  readonly storageDir: string;
  /** Set when storageDriver is 's3'. */
  readonly s3: S3Settings | null;
  /** Output image URLs start here instead of the API's /files route (a CDN or public bucket). */
  readonly storagePublicBaseUrl: string | null;
  readonly allowPrivateNetworks: boolean;
  /** Opt-in: resizes decode JPEGs at 1/2, 1/4 or 1/8 size where the factor allows (ImageTransformerOptions). */
  readonly jpegShrinkOnLoad: boolean;
  /** Linux: the nice value of the image-encoding threads (0 leaves them as they are). */
  readonly imageThreadNice: number;
  readonly limits: Limits;
  readonly webhooks: WebhookSettings;
  readonly workerConcurrency: number;
  /** Images of one request per chunk job: the unit the dispatcher hands out round-robin. */
  readonly chunkSize: number;
  /** How often each worker tries a dispatch pass beside the ones a finished chunk or an upload asks for. */
  readonly dispatchIntervalMs: number;
  /** Fetches in flight to one source host (host and port) at most, across every worker of the deployment. */
  readonly sourceHostConcurrency: number;
  /** The longest a host's Retry-After pauses it for; a longer ask is cut to this. */
  readonly sourceHostMaxPauseMs: number;
  readonly jobAttempts: number;
  readonly jobBackoffMs: number;
  readonly jobLockMs: number;
  /** How often each worker looks for stuck requests and images (see StuckWorkSweeper). */
  readonly sweepIntervalMs: number;
  readonly queuePrefix: string;
  /**
   * The queue prefix and Redis database: what one dispatcher serves. Requests
   * record it, so deployments sharing a database (test suites do) never
   * dispatch each other's images into queues nobody of theirs reads.
   */
  readonly deployment: string;
  readonly logLevel: string;
  readonly prettyLogs: boolean;
  /** Worker role only: serve /metrics and /health on this port (the API serves them on PORT). */
  readonly metricsPort: number | null;
  /**
   * Key → tenant. Empty: no keys (see accessMode) and every caller sees
   * every request; otherwise every API route needs one of these keys in
   * `x-api-key` and sees only its tenant's requests.
   */
  readonly apiKeys: ReadonlyMap<string, string>;
  readonly accessMode: AccessMode;
  /** Finished requests older than this many days are deleted; null keeps them forever. */
  readonly retentionDays: number | null;
  readonly rateLimits: RateLimits;

  constructor(env: EnvironmentVariables) {
    this.databaseUrl = env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/pixbatch';
    this.redisUrl = env.REDIS_URL ?? 'redis://127.0.0.1:6379';
    this.role = env.APP_ROLE ?? 'all';
    this.port = env.PORT ?? 3000;
    this.host = env.HOST ?? '0.0.0.0';
    this.publicBaseUrl = (env.PUBLIC_BASE_URL ?? `http://localhost:${this.port}`).replace(/\/+$/, '');
    this.trustProxy = env.TRUST_PROXY === undefined ? false : parseTrustProxy(env.TRUST_PROXY)!;
    this.storageDriver = env.STORAGE_DRIVER ?? 'local';
    this.storageDir = resolve(env.STORAGE_DIR ?? 'data/storage');
    this.s3 =
      this.storageDriver === 's3'
        ? {
            bucket: env.S3_BUCKET!,
            endpoint: env.S3_ENDPOINT,
            region: env.S3_REGION ?? 'us-east-1',
            credentials:
              env.S3_ACCESS_KEY_ID && env.S3_SECRET_ACCESS_KEY
                ? { accessKeyId: env.S3_ACCESS_KEY_ID, secretAccessKey: env.S3_SECRET_ACCESS_KEY }
                : undefined,
            forcePathStyle: env.S3_FORCE_PATH_STYLE ?? false,
            prefix: env.S3_PREFIX ? env.S3_PREFIX.replace(/\/*$/, '/') : '',
          }
        : null;
    this.storagePublicBaseUrl = env.STORAGE_PUBLIC_BASE_URL?.replace(/\/+$/, '') ?? null;
    this.allowPrivateNetworks = env.ALLOW_PRIVATE_NETWORKS ?? false;
    this.jpegShrinkOnLoad = env.JPEG_SHRINK_ON_LOAD ?? false;
    this.imageThreadNice = env.IMAGE_THREAD_NICE ?? 10;
    this.limits = {
      csvBytes: env.MAX_CSV_BYTES ?? 50 * 1024 * 1024,
      csvRows: env.MAX_CSV_ROWS ?? 100_000,
      uploadTimeoutMs: env.UPLOAD_TIMEOUT_MS ?? 120_000,
      urlsPerRow: env.MAX_URLS_PER_ROW ?? 50,
      urlLength: env.MAX_URL_LENGTH ?? 2048,
      imageBytes: env.MAX_IMAGE_BYTES ?? 25 * 1024 * 1024,
      imagePixels: env.MAX_IMAGE_PIXELS ?? 50_000_000,
      imageFrames: env.MAX_IMAGE_FRAMES ?? 200,
      imageTimeoutSeconds: env.IMAGE_TIMEOUT_SECONDS ?? 60,
      fetchTimeoutMs: env.FETCH_TIMEOUT_MS ?? 30_000,
      redirects: env.MAX_REDIRECTS ?? 5,
    };
    this.webhooks = {
      signingSecrets: env.WEBHOOK_SIGNING_SECRET?.trim().split(/\s+/) ?? [],
      timeoutMs: env.WEBHOOK_TIMEOUT_MS ?? 15_000,
      // Svix's schedule: eight attempts over about 28 hours before giving up.
      retryDelaysMs: parseDurationList(env.WEBHOOK_RETRY_DELAYS ?? '5s,5m,30m,2h,5h,10h,10h')!,
      sweepIntervalMs: env.WEBHOOK_SWEEP_INTERVAL_MS ?? 30_000,
    };
    // Two images in flight per core keeps libvips busy while the next download
    // arrives (measured with sharp 0.35 on 2 cores: 2-4 in flight is best, 1 about 30 % slower).
    this.workerConcurrency = env.WORKER_CONCURRENCY ?? Math.max(2, availableParallelism() * 2);
    // Small enough that a request arriving behind a big one waits for a few
    // images per lane, large enough that dispatching costs little per image.
    this.chunkSize = env.CHUNK_SIZE ?? 16;
    this.dispatchIntervalMs = env.DISPATCH_INTERVAL_MS ?? 1000;
    // A browser opens 6 connections per host; a batch job may take a little
    // more of a CDN, not a whole cluster's worth of lanes.
    this.sourceHostConcurrency = env.SOURCE_HOST_CONCURRENCY ?? 8;
    this.sourceHostMaxPauseMs = env.SOURCE_HOST_MAX_PAUSE_MS ?? 5 * 60_000;
    this.jobAttempts = env.JOB_ATTEMPTS ?? 5;
    this.jobBackoffMs = env.JOB_BACKOFF_MS ?? 2000;
    // A killed worker's jobs are handed to another worker after about this long.
    this.jobLockMs = env.JOB_LOCK_MS ?? 30_000;
    this.sweepIntervalMs = env.SWEEP_INTERVAL_MS ?? 30_000;
    this.queuePrefix = env.QUEUE_PREFIX ?? 'pixbatch';
    this.deployment = `${this.queuePrefix}/${redisDatabase(this.redisUrl)}`;
    this.logLevel = env.LOG_LEVEL ?? 'info';
    // JSON lines unless a person is watching: log collectors parse JSON, people read pretty.
    this.prettyLogs = (env.LOG_FORMAT ?? (process.stdout.isTTY ? 'pretty' : 'json')) === 'pretty';
    this.metricsPort = env.METRICS_PORT ?? null;
    this.apiKeys = parseApiKeys(env.API_KEYS ?? '');
    // Safe by default: a deployment that forgot API_KEYS serves only its own machine.
    this.accessMode = this.apiKeys.size > 0 ? 'keys' : (env.PROTECTED_MODE ?? true) ? 'protected' : 'open';
    this.retentionDays = env.RETENTION_DAYS ?? null;
    this.rateLimits = {
      requests: env.RATE_LIMIT_PER_MINUTE ?? 1200,
      uploads: env.UPLOAD_RATE_LIMIT_PER_MINUTE ?? 300,
      writes: env.WRITE_RATE_LIMIT_PER_MINUTE ?? 300,
    };
  }

  get runsApi(): boolean {
    return this.role !== 'worker';
  }

  get runsWorker(): boolean {
    return this.role !== 'api';
  }
}

/** The database index of a redis:// URL (its path), 0 when it names none. */
function redisDatabase(url: string): number {
  const path = URL.canParse(url) ? new URL(url).pathname.slice(1) : '';
  return /^\d+$/.test(path) ? Number(path) : 0;
}

export class ConfigValidationError extends Error {}

// Boot errors end up in logs: name these variables, never print their values.
const SECRETS = new Set(['API_KEYS', 'WEBHOOK_SIGNING_SECRET']);

/** Reads the environment once at boot and fails with every bad variable named. */
export function loadConfig(env: Record<string, string | undefined> = process.env): AppConfig {
  const known = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ''));
  const parsed = plainToInstance(EnvironmentVariables, known);
  const errors = validateSync(parsed, { whitelist: true, forbidUnknownValues: false });
  if (errors.length > 0) {
    const lines = errors.map(
      (error) =>
        `  ${error.property}=${SECRETS.has(error.property) ? '(hidden)' : JSON.stringify(error.value)}: ${Object.values(error.constraints ?? {}).join('; ')}`,
    );
    throw new ConfigValidationError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  return new AppConfig(parsed);
}
