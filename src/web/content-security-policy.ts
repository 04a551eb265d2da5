import type { FastifyInstance } from 'fastify';

/** helmet's directive map; null removes one of its defaults. */
type Directives = Record<string, string[] | null>;

/**
 * The policy for everything the API role serves, the web page included: scripts
 * and styles only from our own origin, no inline code. Images also from the
 * public base URL, which may be another host (a CDN or proxy in front of /files),
 * and from STORAGE_PUBLIC_BASE_URL, where output images come straight from the bucket.
 */
export function pageDirectives(imageBaseUrls: readonly (string | null)[]): Directives {
  const imageOrigins = new Set(
    imageBaseUrls.filter((url): url is string => url !== null).map((url) => new URL(url).origin),
  );
  return {
    defaultSrc: [`'self'`],
    scriptSrc: [`'self'`],
    styleSrc: [`'self'`],
    imgSrc: [`'self'`, 'data:', ...imageOrigins],
    connectSrc: [`'self'`],
    objectSrc: [`'none'`],
    baseUri: [`'self'`],
    formAction: [`'self'`],
    frameAncestors: [`'none'`],
    // The quick start is plain HTTP on localhost; upgrading its requests to HTTPS would break them.
    upgradeInsecureRequests: null,
  };
}

/** Swagger UI's HTML carries inline <style> blocks (its scripts are files); only its pages get that allowance. */
export function relaxForSwaggerUi(fastify: FastifyInstance, directives: Directives): void {
  const policy = serialize({ ...directives, styleSrc: [`'self'`, `'unsafe-inline'`] });
  fastify.addHook('onSend', async (request, reply, payload) => {
    if (/^\/docs(\/|$)/.test(request.url.split('?')[0])) void reply.header('content-security-policy', policy);
    return payload;
  });
}

function serialize(directives: Directives): string {
  return Object.entries(directives)
    .filter((entry): entry is [string, string[]] => entry[1] !== null)
    .map(([name, values]) => `${name.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)} ${values.join(' ')}`)
    .join('; ');
}
