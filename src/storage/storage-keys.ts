import { randomBytes } from 'node:crypto';
import { contentTypeOf } from './content-types.js';

/**
 * Every storage key is built here. Output images live under their request's
 * folder, so deleting a request is one prefix; only that folder is public.
 */
const IMAGES = 'images/';

/**
 * What names a request's folder. The folder is public (anyone with an output
 * URL sees it), so it is named by a token of its own rather than the request
 * id, which the API treats as the request's name. Requests stored before
 * tokens have none and keep their folder under the id, so their output URLs
 * stay valid.
 */
export interface RequestFolder {
  id: string;
  publicToken: string | null;
}

/** A new request's public token: 128 random bits as 32 hex characters. */
export function newPublicToken(): string {
  return randomBytes(16).toString('hex');
}

export function requestPrefix(request: RequestFolder): string {
  return `${IMAGES}${request.publicToken ?? request.id}/`;
}

/**
 * `images/<token>/<fileName>.<ext>`: the token keeps the folder unguessable
 * and says nothing of the request, the name (ImageNames) makes a folder of
 * downloads readable. The names follow from the CSV, so one output URL of a
 * request lets its holder guess the others. Images uploaded before names
 * existed have none and keep their id.
 */
export function imageKey(
  request: RequestFolder,
  imageId: string,
  extension: string,
  fileName: string | null = null,
): string {
  return `${requestPrefix(request)}${fileName ?? imageId}.${extension}`;
}

/** Longest slug taken from a serial number, and from a product name. */
const SERIAL_SLUG_MAX = 32;
const NAME_SLUG_MAX = 60;

/**
 * ASCII, lower case, words joined by '-', at most `max` characters: accents
 * are dropped ("Café" → "cafe"), any other character separates words, and a
 * cut falls between words where one is near.
 */
export function slug(text: string, max: number): string {
  const words = text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  if (words.length <= max) return words;
  const cut = words.slice(0, max + 1);
  const lastBreak = cut.lastIndexOf('-');
  return (lastBreak >= max / 2 ? cut.slice(0, lastBreak) : cut.slice(0, max)).replace(/-+$/, '');
}

/**
 * The file names of one request's images, handed out in file order:
 * `<serial>-<product name>-<position>` slugged (`12-red-shoes-2`, position
 * counted from 1). Serial numbers are unique in a file but their slugs may not
 * be ("A 1" and "a-1"), so a product whose stem is taken gets `-2`, `-3`, ….
 * Since the position is the name's last '-' segment and holds no '-', distinct
 * stems give distinct names: unique within the request. Holds one stem per
 * product, so a 100 000-row upload keeps a few MB of them.
 */
export class ImageNames {
  private readonly stems = new Set<string>();

  /** The names of a product's images, in the order of its URLs. */
  forProduct(serialNumber: string, productName: string, imageCount: number): string[] {
    const stem = this.stem(serialNumber, productName);
    return Array.from({ length: imageCount }, (_, index) => `${stem}-${index + 1}`);
  }

  /** `<serial>-<product name>`, unique among this instance's products; the archive's folder names too. */
  stem(serialNumber: string, productName: string): string {
    const base =
      [slug(serialNumber, SERIAL_SLUG_MAX), slug(productName, NAME_SLUG_MAX)].filter((part) => part !== '').join('-') ||
      'image';
    let stem = base;
    for (let n = 2; this.stems.has(stem); n++) stem = `${base}-${n}`;
    this.stems.add(stem);
    return stem;
  }
}

/** Output images are served to anyone holding their key (its folder a random token); nothing else in storage is. */
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
