/** The upload route's multipart fields, read from openapi.json at build time (web/vite.config.ts). */
declare const __UPLOAD_FIELDS__: string[];
