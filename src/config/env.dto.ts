import { Transform } from 'class-transformer';
import {
  IsBoolean,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  IsNotEmpty,
  IsUrl,
  Matches,
  Max,
  Min,
  ValidateBy,
  ValidateIf,
  type ValidationOptions,
} from 'class-validator';
import { parseApiKeys } from './api-keys.js';
import { parseDurationList } from './duration.js';

export type TrustProxy = boolean | string[];

/**
 * Which X-Forwarded-For hops to believe, in the forms Fastify's `trustProxy`
 * takes; undefined when the text is none of them.
 */
export function parseTrustProxy(text: string): TrustProxy | undefined {
  const value = text.trim().toLowerCase();
  if (value === 'false' || value === '0') return false;
  if (value === 'true') return true;
  const entries = value.split(',').map((entry) => entry.trim());
  const address = /^(?:[0-9.]+|[0-9a-f:]+)(?:\/\d{1,3})?$/;
  return entries.every((entry) => address.test(entry) && /[.:]/.test(entry)) ? entries : undefined;
}

export const STORAGE_DRIVERS = ['local', 's3'] as const;
export type StorageDriverName = (typeof STORAGE_DRIVERS)[number];
const usesS3 = (env: EnvironmentVariables) => env.STORAGE_DRIVER === 's3';

export const APP_ROLES = ['all', 'api', 'worker'] as const;
export type AppRole = (typeof APP_ROLES)[number];

const toInt = ({ value }: { value: unknown }) => (value === undefined || value === '' ? undefined : Number(value));
const toBool = ({ value }: { value: unknown }) => {
  if (value === undefined || value === '') return undefined;
  // loadConfig hands over the environment's strings; anything else is left for @IsBoolean to refuse.
  const text = typeof value === 'string' ? value.toLowerCase() : '';
  if (['true', '1', 'yes', 'on'].includes(text)) return true;
  if (['false', '0', 'no', 'off'].includes(text)) return false;
  return value;
};

function isApiKeyList(value: unknown): boolean {
  if (typeof value !== 'string') return false;
  try {
    parseApiKeys(value);
    return true;
  } catch {
    return false;
  }
}

// Standard Webhooks: `whsec_` + base64 of 24 to 64 random bytes.
const WEBHOOK_SECRET = /^whsec_([A-Za-z0-9+/]+={0,2})$/;

function isWebhookSecretList(value: unknown): boolean {
  if (typeof value !== 'string') return false;
  const keys = value.trim().split(/\s+/);
  return (
    keys.length <= 2 &&
    keys.every((key) => {
      const base64 = WEBHOOK_SECRET.exec(key)?.[1];
      const bytes = base64 ? Buffer.from(base64, 'base64').length : 0;
      return bytes >= 24 && bytes <= 64;
    })
  );
}

function IsWebhookSecretList(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isWebhookSecretList',
      validator: {
        validate: isWebhookSecretList,
        defaultMessage: () =>
          'must be one key, or two separated by a space while rotating, each "whsec_" + base64 of 24-64 random bytes',
      },
    },
    options,
  );
}

function IsDurationList(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isDurationList',
      validator: {
        validate: (value: unknown) => typeof value === 'string' && parseDurationList(value) !== null,
        defaultMessage: () => 'must be comma-separated durations such as "5s,5m,30m,2h" (units ms, s, m, h, d)',
      },
    },
    options,
  );
}

/**
 * The environment as the operator writes it. Names are the contract listed in
 * docs/operations.md "Configuration" and .env.example; every value is optional
 * and defaults to what works against the local PostgreSQL and Redis.
 */
export class EnvironmentVariables {
  @IsOptional()
  @IsUrl({ protocols: ['postgres', 'postgresql'], require_tld: false, require_valid_protocol: true })
  DATABASE_URL?: string;

  @IsOptional()
  @IsUrl({ protocols: ['redis', 'rediss'], require_tld: false, require_valid_protocol: true })
  REDIS_URL?: string;

  @IsOptional()
  @IsIn(APP_ROLES)
  APP_ROLE?: AppRole;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(65535)
  PORT?: number;

  @IsOptional()
  @IsString()
  HOST?: string;

  @IsOptional()
  @IsUrl({ protocols: ['http', 'https'], require_tld: false, require_protocol: true })
  PUBLIC_BASE_URL?: string;

  @IsOptional()
  @IsIn(STORAGE_DRIVERS)
  STORAGE_DRIVER?: StorageDriverName;

  /** Local driver: the files; S3 driver: scratch files libvips writes before upload. */
  @IsOptional()
  @IsString()
  STORAGE_DIR?: string;

  // The S3 settings are checked only when that driver is chosen.
  @ValidateIf(usesS3)
  @IsString()
  @IsNotEmpty()
  S3_BUCKET?: string;

  /** Unset: AWS S3 itself. */
  @ValidateIf((env: EnvironmentVariables) => usesS3(env) && env.S3_ENDPOINT !== undefined)
  @IsUrl({ protocols: ['http', 'https'], require_tld: false, require_protocol: true })
  S3_ENDPOINT?: string;

  @ValidateIf((env: EnvironmentVariables) => usesS3(env) && env.S3_REGION !== undefined)
  @IsString()
  S3_REGION?: string;

  // Both or neither: without them the SDK's default credential chain applies.
  @ValidateIf((env: EnvironmentVariables) => usesS3(env) && env.S3_SECRET_ACCESS_KEY !== undefined)
  @IsString()
  @IsNotEmpty({ message: 'S3_ACCESS_KEY_ID must be set together with S3_SECRET_ACCESS_KEY' })
  S3_ACCESS_KEY_ID?: string;

  @ValidateIf((env: EnvironmentVariables) => usesS3(env) && env.S3_ACCESS_KEY_ID !== undefined)
  @IsString()
  @IsNotEmpty({ message: 'S3_SECRET_ACCESS_KEY must be set together with S3_ACCESS_KEY_ID' })
  S3_SECRET_ACCESS_KEY?: string;

  @ValidateIf((env: EnvironmentVariables) => usesS3(env) && env.S3_FORCE_PATH_STYLE !== undefined)
  @Transform(toBool)
  @IsBoolean()
  S3_FORCE_PATH_STYLE?: boolean;

  @ValidateIf((env: EnvironmentVariables) => usesS3(env) && env.S3_PREFIX !== undefined)
  @IsString()
  @Matches(/^[A-Za-z0-9][A-Za-z0-9._/-]*$/, {
    message: 'must be a key prefix such as "pixbatch/" (letters, digits, . _ - /)',
  })
  S3_PREFIX?: string;

  /** A CDN or public bucket serving output images; unset: the API's /files route serves them. */
  @IsOptional()
  @IsUrl({ protocols: ['http', 'https'], require_tld: false, require_protocol: true })
  STORAGE_PUBLIC_BASE_URL?: string;

  @IsOptional()
  @Transform(toBool)
  @IsBoolean()
  ALLOW_PRIVATE_NETWORKS?: boolean;

  /** `false` (default), `true`, or comma-separated proxy addresses/CIDRs (see parseTrustProxy). */
  @IsOptional()
  @ValidateBy({
    name: 'isTrustProxy',
    validator: {
      validate: (value: unknown) => typeof value === 'string' && parseTrustProxy(value) !== undefined,
      defaultMessage: () => 'must be false, true, or comma-separated proxy IP addresses or CIDR ranges',
    },
  })
  TRUST_PROXY?: string;

  /**
   * `false` (default): a resized JPEG is decoded as plain sharp decodes it. `true`: a
   * resize to 1/2 or less decodes at 1/2, 1/4 or 1/8 size (libjpeg's DCT scaling), for
   * speed at the cost of bytes and fidelity. Measured at 50 % (bench/): 25 instead of
   * 46 ms of CPU per 2000x1500 JPEG, but 1.34x plain sharp's bytes (worst file 1.42x)
   * at SSIM 0.918 against 0.959 over the formats bench's JPEGs.
   */
  @IsOptional()
  @Transform(toBool)
  @IsBoolean()
  JPEG_SHRINK_ON_LOAD?: boolean;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(19)
  IMAGE_THREAD_NICE?: number;

  @IsOptional()
  @IsWebhookSecretList()
  WEBHOOK_SIGNING_SECRET?: string;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(100)
  WEBHOOK_TIMEOUT_MS?: number;

  @IsOptional()
  @IsDurationList()
  WEBHOOK_RETRY_DELAYS?: string;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(100)
  WEBHOOK_SWEEP_INTERVAL_MS?: number;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1)
  MAX_CSV_BYTES?: number;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1)
  MAX_CSV_ROWS?: number;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(100)
  UPLOAD_TIMEOUT_MS?: number;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1)
  MAX_URLS_PER_ROW?: number;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(16)
  MAX_URL_LENGTH?: number;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1)
  MAX_IMAGE_BYTES?: number;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1)
  MAX_IMAGE_PIXELS?: number;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1)
  MAX_IMAGE_FRAMES?: number;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(3600)
  IMAGE_TIMEOUT_SECONDS?: number;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(100)
  FETCH_TIMEOUT_MS?: number;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(20)
  MAX_REDIRECTS?: number;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(256)
  WORKER_CONCURRENCY?: number;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(100)
  CHUNK_SIZE?: number;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(50)
  DISPATCH_INTERVAL_MS?: number;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(1000)
  SOURCE_HOST_CONCURRENCY?: number;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1000)
  SOURCE_HOST_MAX_PAUSE_MS?: number;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(50)
  JOB_ATTEMPTS?: number;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1)
  JOB_BACKOFF_MS?: number;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1000)
  JOB_LOCK_MS?: number;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(100)
  SWEEP_INTERVAL_MS?: number;

  @IsOptional()
  @IsString()
  QUEUE_PREFIX?: string;

  @IsOptional()
  @ValidateBy(
    { name: 'isApiKeyList', validator: { validate: isApiKeyList } },
    {
      message:
        'comma-separated keys, each optionally named by its tenant (`alice:key1,bob:key2,key3`); ' +
        'a tenant name is 1-64 letters, digits, `.`, `_` or `-`, and a key belongs to one tenant only',
    },
  )
  API_KEYS?: string;

  /** Without API_KEYS: `on` (default) serves loopback clients only; `off` serves everyone. */
  @IsOptional()
  @Transform(toBool)
  @IsBoolean()
  PROTECTED_MODE?: boolean;

  /** Unset: finished requests are kept forever. */
  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(1)
  RETENTION_DAYS?: number;

  @IsOptional()
  @IsIn(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
  LOG_LEVEL?: string;

  @IsOptional()
  @IsIn(['json', 'pretty'])
  LOG_FORMAT?: 'json' | 'pretty';

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(65535)
  METRICS_PORT?: number;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(0)
  RATE_LIMIT_PER_MINUTE?: number;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(0)
  UPLOAD_RATE_LIMIT_PER_MINUTE?: number;

  @IsOptional()
  @Transform(toInt)
  @IsInt()
  @Min(0)
  WRITE_RATE_LIMIT_PER_MINUTE?: number;
}
