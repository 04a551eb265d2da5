// node plain-script.mjs URLS_FILE OUT_DIR [--lanes 4] [--warm-up 8] [--resize 0.5]
// What a user would write instead of running the service (issue 23): for each URL
// of URLS_FILE (one a line), fetch it, compress it with sharp at quality 50 in its
// own format, auto-oriented, and write it to OUT_DIR, `--lanes` at a time. No queue,
// no database, no retries: the floor the service's pipeline is held against.
//
// For the bench (run.mjs, section `script`) it runs as a child process so that its
// CPU is read from /proc like the service's: the first `--warm-up` URLs are done
// first (JIT, sharp's start-up, fetch's connections, as the bare loop warms up),
// then it prints `ready` and waits for a line on stdin; it does every URL, prints
// the result as JSON, and exits once stdin closes (the bench has read its CPU time).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import sharp from 'sharp';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    lanes: { type: 'string', default: '4' },
    'warm-up': { type: 'string', default: '0' },
    resize: { type: 'string' },
  },
});
const [urlsFile, outDir] = positionals;
const lanes = Number(values.lanes);
const warmUp = Number(values['warm-up']);
const resize = values.resize === undefined ? null : Number(values.resize);
const urls = (await readFile(urlsFile, 'utf8')).split('\n').filter(Boolean);

// Quality 50, the format kept: by the Content-Type the image host sent.
const ENCODERS = {
  'image/jpeg': ['jpg', (image) => image.jpeg({ quality: 50 })],
  'image/png': ['png', (image) => image.png({ quality: 50 })],
  'image/webp': ['webp', (image) => image.webp({ quality: 50 })],
};

async function compress(url, name) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url} answered ${response.status}`);
  const type = response.headers.get('content-type');
  if (!ENCODERS[type]) throw new Error(`${url}: no encoder for ${type}`);
  const input = Buffer.from(await response.arrayBuffer());
  const [extension, encode] = ENCODERS[type];
  let image = sharp(input).rotate();
  if (resize !== null) {
    // Scaled as the service's resize option does: both sides by the factor, as the file is oriented.
    const { width, height, orientation } = await sharp(input).metadata();
    const [w, h] = orientation >= 5 ? [height, width] : [width, height];
    image = image.resize(Math.max(1, Math.round(w * resize)), Math.max(1, Math.round(h * resize)), { fit: 'fill' });
  }
  const info = await encode(image).toFile(join(outDir, `${name}.${extension}`));
  return { bytesIn: input.length, bytesOut: info.size };
}

async function compressAll(list, prefix) {
  let next = 0;
  let bytesIn = 0;
  let bytesOut = 0;
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      while (next < list.length) {
        const index = next++;
        const result = await compress(list[index], `${prefix}${index}`);
        bytesIn += result.bytesIn;
        bytesOut += result.bytesOut;
      }
    }),
  );
  return { bytesIn, bytesOut };
}

// The bench's side of it: warm up, wait for the go, report, wait to be let go.
const stdin = createInterface({ input: process.stdin });
const lines = stdin[Symbol.asyncIterator]();
await compressAll(urls.slice(0, warmUp), 'warm-up-');
console.log('ready');
await lines.next();
const started = performance.now();
const { bytesIn, bytesOut } = await compressAll(urls, '');
const seconds = (performance.now() - started) / 1000;
console.log(JSON.stringify({ images: urls.length, seconds, bytesIn, bytesOut }));
await lines.next();
stdin.close();
