import { applyDecorators, SetMetadata } from '@nestjs/common';
import { DECORATORS } from '@nestjs/swagger';

export const IS_PUBLIC = 'pixbatch:public';

/**
 * Marks routes that stay open to everyone, with API keys configured and in
 * protected mode alike, and are not rate-limited: probes, metrics, and output
 * images (browsers load them by URL, without headers).
 * The empty security list tells OpenAPI clients not to send the key there.
 */
export const Public = () => applyDecorators(SetMetadata(IS_PUBLIC, true), SetMetadata(DECORATORS.API_SECURITY, []));
