import { Injectable } from '@nestjs/common';
import type { Readable } from 'node:stream';
import { ProductRepository } from '../products/product.repository.js';
import { PublicUrls } from '../storage/public-urls.js';
import { createResultCsvStream, ResultRow } from './result-csv.js';

const PAGE = 1000;

/**
 * Builds the result CSV of a request from the database when asked, a page of
 * products at a time, with output URLs derived from the stored keys at that
 * moment (so a changed PUBLIC_BASE_URL applies to old requests too).
 */
@Injectable()
export class ExportService {
  constructor(
    private readonly products: ProductRepository,
    private readonly urls: PublicUrls,
  ) {}

  resultCsv(requestId: string, columns: string[], delimiter: string): Readable {
    return createResultCsvStream(columns, this.rows(requestId), { delimiter });
  }

  private async *rows(requestId: string): AsyncGenerator<ResultRow> {
    let after = 0;
    for (;;) {
      const page = await this.products.exportPage(requestId, after, PAGE);
      for (const product of page) {
        yield {
          cells: product.cells,
          outputUrls: product.outputKeys.map((key) => (key === null ? null : this.urls.file(key))),
          errors: product.errors,
        };
      }
      if (page.length < PAGE) return;
      after = page[page.length - 1].rowNumber;
    }
  }
}
