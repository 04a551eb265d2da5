// examples/products.csv names the sample image server at its default address,
// http://127.0.0.1:8099. Where the images are served from elsewhere (another
// port, or compose's `images` service), the same CSV with that address is made
// here: for the demo (scripts/demo.mjs) and for the image server's /products.csv.
import { readFile } from 'node:fs/promises';

export const SAMPLE_CSV = new URL('products.csv', import.meta.url);
export const DEFAULT_IMAGES_URL = 'http://127.0.0.1:8099';

/** examples/products.csv with its image URLs under `imagesUrl` (an origin such as http://images:8099). */
export async function sampleCsv(imagesUrl = DEFAULT_IMAGES_URL) {
  const csv = await readFile(SAMPLE_CSV, 'utf8');
  return csv.replaceAll(`${DEFAULT_IMAGES_URL}/`, `${imagesUrl.replace(/\/+$/, '')}/`);
}
