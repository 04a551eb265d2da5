// Serves the corpus from memory over loopback, as a supplier's image host would:
// /<set>/<file>, with Content-Length and keep-alive.
//
// And a catalogue for the rerun section: /catalogue/<mode>/<n>.jpg is the
// throughput set's image n (modulo its size), or a later one each time n is
// changed. Mode `etag` sends a strong ETag (a hash of the bytes) and answers a
// matching If-None-Match with 304, as most CDNs do; mode `plain` sends no
// validator at all, so only the bytes can tell whether a file changed. What
// the service asked for is counted: conditional requests, 304s, full bodies.
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';

const TYPES = { jpg: 'image/jpeg', png: 'image/png', webp: 'image/webp', gif: 'image/gif' };

export async function startImageServer(corpus, { catalogueSet } = {}) {
  const files = new Map();
  for (const [set, images] of Object.entries(corpus)) {
    for (const image of images) files.set(`/${set}/${image.name}`, image.data);
  }
  const catalogueImages = (catalogueSet && corpus[catalogueSet]) || [];
  const etags = catalogueImages.map((image) => `"${createHash('sha256').update(image.data).digest('base64url')}"`);
  /** Per catalogue path, how many times its file was changed. */
  const versions = new Map();
  const counts = { requests: 0, conditional: 0, notModified: 0, fullBodies: 0 };

  function catalogue(request, response, mode, n) {
    const index = (n + (versions.get(`${mode}/${n}`) ?? 0)) % catalogueImages.length;
    const data = catalogueImages[index].data;
    counts.requests++;
    const conditional = request.headers['if-none-match'] ?? request.headers['if-modified-since'];
    if (conditional !== undefined) counts.conditional++;
    if (mode === 'etag') {
      const etag = etags[index];
      if (request.headers['if-none-match'] === etag) {
        counts.notModified++;
        return response.writeHead(304, { etag }).end();
      }
      counts.fullBodies++;
      return response.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': data.length, etag }).end(data);
    }
    counts.fullBodies++;
    return response.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': data.length }).end(data);
  }

  const server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    const match = /^\/catalogue\/(etag|plain)\/(\d+)\.jpg$/.exec(path);
    if (match && catalogueImages.length > 0) return catalogue(request, response, match[1], Number(match[2]));
    const data = files.get(path);
    if (!data) return response.writeHead(404).end();
    response.writeHead(200, { 'content-type': TYPES[path.split('.').pop()], 'content-length': data.length }).end(data);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${server.address().port}`;
  return {
    urlOf: (set, image) => `${base}/${set}/${image.name}`,
    /** The catalogue's n-th URL in `mode` (etag or plain). */
    catalogueUrl: (mode, n) => `${base}/catalogue/${mode}/${n}.jpg`,
    /** From now on the n-th file of `mode` has new bytes (and a new ETag): the next image of the set. */
    change: (mode, n) => versions.set(`${mode}/${n}`, (versions.get(`${mode}/${n}`) ?? 0) + 1),
    /** What was asked for since the last call. */
    takeCounts: () => {
      const taken = { ...counts };
      for (const key of Object.keys(counts)) counts[key] = 0;
      return taken;
    },
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}
