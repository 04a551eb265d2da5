import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsNumber, IsOptional, IsUrl, Max, MaxLength, Min } from 'class-validator';

/** The multipart fields that accompany the CSV file. */
export class CreateRequestDto {
  @ApiPropertyOptional({
    description: 'Called with a signed event when the request reaches a terminal status',
    example: 'https://example.com/hooks/pixbatch',
    maxLength: 2048,
  })
  @IsOptional()
  @MaxLength(2048)
  @IsUrl({ protocols: ['http', 'https'], require_protocol: true, require_tld: false })
  webhookUrl?: string;

  @ApiPropertyOptional({
    description: 'Scale factor for both sides, greater than 0 and at most 1 (0.5 halves width and height). Omit to keep the size.',
    example: 0.5,
    minimum: 0.01,
    maximum: 1,
  })
  @IsOptional()
  @Type(() => Number)
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0.01)
  @Max(1)
  resize?: number;
}
