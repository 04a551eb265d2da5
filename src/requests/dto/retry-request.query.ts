import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional } from 'class-validator';

export const RETRY_SCOPES = ['transient'] as const;

export class RetryRequestQuery {
  @ApiPropertyOptional({
    enum: RETRY_SCOPES,
    enumName: 'RetryScope',
    description:
      '`transient`: only images that failed for a transient reason (timeouts, connection errors, 5xx, 429), ' +
      'plus the cancelled ones; without it, every failed and cancelled image',
  })
  @IsOptional()
  @IsIn(RETRY_SCOPES)
  only?: (typeof RETRY_SCOPES)[number];
}
