import { Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { isPublicKey } from './storage-keys.js';

/**
 * The one place public URLs are made. They are derived when read, never
 * stored, so a changed PUBLIC_BASE_URL or STORAGE_PUBLIC_BASE_URL applies to
 * every request, old ones too.
 */
@Injectable()
export class PublicUrls {
  constructor(private readonly config: AppConfig) {}

  /**
   * An output image: on the CDN or public bucket when STORAGE_PUBLIC_BASE_URL
   * is set, otherwise served by the API's /files route. Only images are ever
   * published there; other keys (result files) go through the API.
   */
  file(key: string): string {
    if (this.config.storagePublicBaseUrl && isPublicKey(key)) return `${this.config.storagePublicBaseUrl}/${key}`;
    return `${this.config.publicBaseUrl}/files/${key}`;
  }

  /** An API path such as a request's links, as seen from outside. */
  api(path: string): string {
    return `${this.config.publicBaseUrl}${path}`;
  }
}
