import * as sdk from '@pixbatch/sdk';
import type { Options } from '@pixbatch/sdk';

/**
 * Operations the page uses that the API is gaining (request lifecycle, options).
 * The SDK is generated from openapi.json, so once an endpoint lands and `npm run sdk`
 * runs, its function appears here and the control that needs it turns on; until
 * then the control says it is not available yet. Each entry is the operationId
 * the endpoint is expected to get: if it lands under another name, change it here.
 */
const PLANNED = {
  listRequests: 'listRequests',
  cancelRequest: 'cancelRequest',
  retryRequest: 'retryRequest',
  deleteRequest: 'deleteRequest',
  validateUpload: 'validateRequest',
  downloadArchive: 'getRequestArchive',
} as const;

export type PlannedOperation = keyof typeof PLANNED;

type SdkFunction = (options: Options) => Promise<{ data?: unknown; error?: unknown; response?: Response }>;

export function plannedOperation(name: PlannedOperation): SdkFunction | undefined {
  const operation = (sdk as Record<string, unknown>)[PLANNED[name]];
  return typeof operation === 'function' ? (operation as SdkFunction) : undefined;
}
