/** One failed image as the request's status lists it. */
export interface ImageErrorSummary {
  serialNumber: string;
  productName: string;
  row: number;
  url: string;
  code: string;
  message: string;
}

/**
 * The request's status shows its first failed images, which live in the
 * products' tables. requests/ declares what it needs and products/ provides
 * it (ProductsDataModule), so the dependency runs one way: products → requests.
 */
export abstract class RequestImageErrors {
  abstract firstErrors(requestId: string, limit: number): Promise<ImageErrorSummary[]>;
}
