// Serves the corpus from memory over loopback, as a supplier's image host would:
// /<set>/<file>, with Content-Length and keep-alive.
import { createServer } from 'node:http';

const TYPES = { jpg: 'image/jpeg', png: 'image/png', webp: 'image/webp', gif: 'image/gif' };

export async function startImageServer(corpus) {
  const files = new Map();
  for (const [set, images] of Object.entries(corpus)) {
    for (const image of images) files.set(`/${set}/${image.name}`, image.data);
  }
  const server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    const data = files.get(path);
    if (!data) return response.writeHead(404).end();
    response.writeHead(200, { 'content-type': TYPES[path.split('.').pop()], 'content-length': data.length }).end(data);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${server.address().port}`;
  return {
    urlOf: (set, image) => `${base}/${set}/${image.name}`,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}
