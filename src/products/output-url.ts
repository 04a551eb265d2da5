/** Public URL of a stored output image; `/files/*` serves it in the API process. */
export function outputUrlFor(publicBaseUrl: string, outputKey: string): string {
  return `${publicBaseUrl}/files/${outputKey}`;
}
