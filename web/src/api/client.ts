import { client } from '@pixbatch/sdk';
import { readApiKey } from './api-key';
import { ApiProblem, toProblem } from './problem';

/** Called when the server answers 401, so the page can ask for a key. */
type AuthListener = (problem: ApiProblem) => void;
const authListeners = new Set<AuthListener>();

export function onAuthRequired(listener: AuthListener): () => void {
  authListeners.add(listener);
  return () => authListeners.delete(listener);
}

export function reportAuthRequired(problem: ApiProblem): void {
  for (const listener of authListeners) listener(problem);
}

// Same origin as the page: the API serves it. The SDK adds the x-api-key header
// for operations the OpenAPI document marks as secured.
client.setConfig({ baseUrl: '', auth: () => readApiKey() });

/** The headers a hand-made request (event stream) needs: the same key as the SDK sends. */
export function authHeaders(): Record<string, string> {
  const key = readApiKey();
  return key ? { 'x-api-key': key } : {};
}

interface SdkResult<T> {
  data?: T;
  error?: unknown;
  response?: Response;
}

/**
 * Unwraps an SDK call: the data, or an ApiProblem with the server's problem
 * document. A 401 is also announced, so the API key prompt opens wherever it happened.
 */
export async function call<T>(request: Promise<SdkResult<T>>): Promise<T> {
  let result: SdkResult<T>;
  try {
    result = await request;
  } catch (error) {
    throw toProblem(error);
  }
  if (result.error !== undefined || !result.response?.ok) {
    const problem = toProblem(result.error, result.response?.status ?? 0);
    if (problem.status === 401) reportAuthRequired(problem);
    throw problem;
  }
  return result.data as T;
}

/** A download: the body, and the file name the server gave it in Content-Disposition. */
export async function callForFile(
  request: Promise<SdkResult<unknown>>,
  fallback: string,
): Promise<{ blob: Blob; filename: string }> {
  const pending = request.then((result) => ({ ...result, data: { data: result.data, response: result.response } }));
  const { data, response } = await call(pending);
  return { blob: data as Blob, filename: filenameFrom(response?.headers.get('content-disposition')) ?? fallback };
}

/** RFC 6266: the UTF-8 `filename*` when present, else the plain `filename`. */
function filenameFrom(header: string | null | undefined): string | undefined {
  if (!header) return undefined;
  const extended = /filename\*=UTF-8''([^;]+)/i.exec(header);
  if (extended) return decodeURIComponent(extended[1]);
  return /filename="([^"]+)"/i.exec(header)?.[1];
}
