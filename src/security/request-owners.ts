/**
 * Who owns a request, as tenant isolation needs to know it. The requests
 * feature provides it (RequestsModule, which the composition root hands to
 * SecurityModule.withOwners), so security/ imports nothing of requests/.
 */
export abstract class RequestOwners {
  /** The tenant a request belongs to, or null when there is no such request. */
  abstract ownerOf(requestId: string): Promise<string | null>;
}
