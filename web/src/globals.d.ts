/** The upload route's multipart fields with their bounds and choices, read from openapi.json at build time (web/vite.config.ts). */
declare const __UPLOAD_FIELDS__: Record<
  string,
  { enum?: string[]; minimum?: number; maximum?: number; default?: unknown }
>;
