import { Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';

/**
 * The one place public URLs are made. They are derived when read, never
 * stored, so a changed PUBLIC_BASE_URL applies to every request, old ones too.
 */
@Injectable()
export class PublicUrls {
  constructor(private readonly config: AppConfig) {}

  /** An output image, served by the API's /files route. */
  file(key: string): string {
    return `${this.config.publicBaseUrl}/files/${key}`;
  }

  /** An API path such as a request's links, as seen from outside. */
  api(path: string): string {
    return `${this.config.publicBaseUrl}${path}`;
  }
}
