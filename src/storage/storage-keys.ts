import { contentTypeOf } from './content-types.js';

/**
 * Every storage key is built here. Output images live under their request's
 * folder, so deleting a request is one prefix; only that folder is public.
 */
const IMAGES = 'images/';

export function requestPrefix(requestId: string): string {
  return `${IMAGES}${requestId}/`;
}

export function imageKey(requestId: string, imageId: string, extension: string): string {
  return `${requestPrefix(requestId)}${imageId}.${extension}`;
}

/** Output images are served to anyone holding the (unguessable) key; nothing else in storage is. */
export function isPublicKey(key: string): boolean {
  return key.startsWith(IMAGES) && isSafeKey(key);
}

/** Output images never change under their key. */
export function imagePutOptions(key: string) {
  return { contentType: contentTypeOf(key), cacheControl: 'public, max-age=31536000, immutable' };
}

const KEY_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)*$/;

/** Rejects anything that could escape the storage root (`..`, absolute paths, odd bytes). */
export function isSafeKey(key: string): boolean {
  return key.length <= 512 && KEY_PATTERN.test(key) && !key.split('/').some((part) => part === '..' || part === '.');
}
