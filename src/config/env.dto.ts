import { Transform } from 'class-transformer';
import { IsBoolean, IsIn, IsInt, IsOptional, IsString, IsUrl, Max, Min } from 'class-validator';

export const APP_ROLES = ['all', 'api', 'worker'] as const;
export type AppRole = (typeof APP_ROLES)[number];

const toInt = ({ value }: { value: unknown }) =>
  value === undefined || value === '' ? undefined : Number(value);
const toBool = ({ value }: { value: unknown }) => {
  if (value === undefined || value === '') return undefined;
  const text = String(value).toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(text)) return true;
  if (['false', '0', 'no', 'off'].includes(text)) return false;
  return value;
};

/**
 * The environment as the operator writes it. Names are the contract of
 * DESIGN.md "Configuration"; every value is optional and defaults to what
 * works against the local PostgreSQL and Redis.
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
  @IsIn(['local'])
  STORAGE_DRIVER?: 'local';

  @IsOptional()
  @IsString()
  STORAGE_DIR?: string;

  @IsOptional()
  @Transform(toBool)
  @IsBoolean()
  ALLOW_PRIVATE_NETWORKS?: boolean;

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
  @IsString()
  QUEUE_PREFIX?: string;

  @IsOptional()
  @IsString()
  API_KEYS?: string;

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
}
