import * as sdk from '@pixbatch/sdk';
import type { Options } from '@pixbatch/sdk';

/**
 * Operations the page uses that the API is gaining (cancel and retry, the ZIP).
 * The SDK is generated from openapi.json, so once an endpoint lands and `npm run sdk`
 * runs, its function appears here and the control that needs it turns on; until
 * then the control says it is not available yet. Each entry is the operationId
 * the endpoint is expected to get (cancel and retry as on the request-lifecycle
 * branch); if one lands under another name, change it here. Operations the SDK
 * already has (list, validate, delete) are imported by name instead.
 */
const PLANNED = {
  cancelRequest: 'cancelRequest',
  retryRequest: 'retryRequest',
  downloadArchive: 'archiveRequest',
} as const;

export type PlannedOperation = keyof typeof PLANNED;

type SdkFunction = (options: Options) => Promise<{ data?: unknown; error?: unknown; response?: Response }>;

export function plannedOperation(name: PlannedOperation): SdkFunction | undefined {
  const operation = (sdk as Record<string, unknown>)[PLANNED[name]];
  return typeof operation === 'function' ? (operation as SdkFunction) : undefined;
}
