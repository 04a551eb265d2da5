// A local stand-in for supplier image hosts, so the quick start needs no
// internet: serves photo-like JPEGs, PNGs (with alpha), an animated GIF and a
// WebP generated with sharp, plus a 404, on http://127.0.0.1:8099, and at
// /products.csv the sample CSV (examples/products.csv) naming them at
// DEMO_IMAGES_URL, the address pixbatch fetches them from (default: this server's).
//   node examples/image-server.mjs [port [host]]    (or DEMO_IMAGES_PORT=8099, or PORT=8099)
import { createServer } from 'node:http';
import sharp from 'sharp';
import { sampleCsv } from './sample-csv.mjs';

const port = Number(process.argv[2] ?? process.env.DEMO_IMAGES_PORT ?? process.env.PORT ?? 8099);
// Loopback unless told otherwise: compose's images service listens on every interface of its container.
const host = process.argv[3] ?? '127.0.0.1';
const imagesUrl = process.env.DEMO_IMAGES_URL ?? `http://127.0.0.1:${port}`;

function photo(width, height, seed) {
  const data = Buffer.alloc(width * height * 3);
  let state = seed * 2654435761;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      state = (state * 1103515245 + 12345) >>> 0;
      const noise = (state >>> 24) % 24;
      const i = (y * width + x) * 3;
      const ring = Math.sin(Math.hypot(x - width / 2, y - height / 2) / (12 + seed)) * 40;
      data[i] = (x * 200) / width + ring + noise;
      data[i + 1] = (y * 200) / height + seed * 20 + noise;
      data[i + 2] = 120 + ring + noise;
    }
  }
  return sharp(data, { raw: { width, height, channels: 3 } });
}

const images = new Map();
for (let n = 1; n <= 20; n++) {
  images.set(`/products/${n}.jpg`, ['image/jpeg', await photo(1200, 900, n).jpeg({ quality: 92 }).toBuffer()]);
}
for (let n = 1; n <= 5; n++) {
  images.set(`/products/${n}.png`, [
    'image/png',
    await photo(600, 600, n + 20)
      .ensureAlpha(0.8)
      .png()
      .toBuffer(),
  ]);
}
images.set('/products/spin.gif', [
  'image/gif',
  await sharp(await Promise.all([1, 2, 3].map((s) => photo(160, 120, s).png().toBuffer())), {
    join: { animated: true },
  })
    .gif({ delay: [200, 200, 200], loop: 0 })
    .toBuffer(),
]);
images.set('/products/1.webp', ['image/webp', await photo(800, 600, 30).webp({ quality: 90 }).toBuffer()]);
images.set('/products.csv', ['text/csv; charset=utf-8', Buffer.from(await sampleCsv(imagesUrl))]);

const server = createServer((request, response) => {
  const found = images.get((request.url ?? '/').split('?')[0]);
  if (!found) return response.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
  response.writeHead(200, { 'content-type': found[0], 'content-length': found[1].length }).end(found[1]);
});
// A busy port is an operator's everyday mistake: one line that says what to do, not a stack trace.
server.on('error', (error) => {
  const reason =
    error.code === 'EADDRINUSE'
      ? `port ${port} is already in use; stop what holds it or choose another with DEMO_IMAGES_PORT=<port>`
      : error.message;
  console.error(`image-server: cannot listen on ${host}:${port}: ${reason}`);
  process.exit(1);
});
server.listen(port, host, () =>
  console.log(`demo images on http://${host}:${port}/products/1.jpg … 20.jpg, their CSV at /products.csv`),
);
