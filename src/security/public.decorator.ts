import { SetMetadata } from '@nestjs/common';

export const IS_PUBLIC = 'pixbatch:public';

/**
 * Marks routes that stay open when API keys are configured: probes, the API
 * documentation, and output images (browsers load them by URL, without headers).
 */
export const Public = () => SetMetadata(IS_PUBLIC, true);
