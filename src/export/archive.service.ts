import { posix } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { Injectable, Logger } from '@nestjs/common';
import { ZipFile } from 'yazl';
import { ProductRepository } from '../products/product.repository.js';
import { ImageNames } from '../storage/storage-keys.js';
import { StorageDriver } from '../storage/storage.driver.js';
import { ExportService } from './export.service.js';

const PAGE = 1000;

/** What the archive needs to know of its request. */
export interface ArchivedRequest {
  id: string;
  columns: string[];
  csvDelimiter: string;
  /** The result CSV's name at the archive's root. */
  resultFilename: string;
}

/**
 * A request's outputs as one ZIP, streamed: a folder per product holding its
 * images (stored, not deflated: they are compressed already), then the result
 * CSV. Each image is opened from storage only when the archive reaches it,
 * so one image's bytes are in flight at a time, at the pace the client reads.
 * What grows with the request is metadata: an entry per image (its name and
 * key, queued as the product pages are read) and the ZIP's central directory.
 * ZIP64 is written when the archive passes 4 GB.
 */
@Injectable()
export class ArchiveService {
  private readonly logger = new Logger(ArchiveService.name);

  constructor(
    private readonly products: ProductRepository,
    private readonly storage: StorageDriver,
    private readonly exporter: ExportService,
  ) {}

  archive(request: ArchivedRequest): Readable {
    const zip = new ZipFile();
    // yazl's outputStream is an old-style stream type; a PassThrough gives the reply a Readable.
    const output = new PassThrough();
    zip.outputStream.pipe(output);
    const fail = (error: Error) => {
      // Headers are sent by now: a cut stream is all that can tell the client; the log says why.
      this.logger.error(`Archive of request ${request.id} stopped: ${error.message}`);
      output.destroy(error);
    };
    zip.on('error', fail);
    this.fill(zip, request).catch(fail);
    return output;
  }

  private async fill(zip: ZipFile, request: ArchivedRequest): Promise<void> {
    const folders = new ImageNames();
    for (let after = 0; ;) {
      const page = await this.products.exportPage(request.id, after, PAGE);
      for (const product of page) {
        const folder = folders.stem(product.serialNumber, product.name);
        // A URL repeated within a product shares one output: one entry.
        for (const key of new Set(product.outputKeys)) {
          if (key === null) continue;
          zip.addReadStreamLazy(`${folder}/${posix.basename(key)}`, { compress: false }, (done) => {
            this.storage.get(key).then(
              (stored) =>
                stored ? done(null, stored.stream) : done(new Error(`${key} is missing from storage`), null as never),
              (error: unknown) => done(error, null as never),
            );
          });
        }
      }
      if (page.length < PAGE) break;
      after = page[page.length - 1].rowNumber;
    }
    zip.addReadStreamLazy(request.resultFilename, (done) =>
      done(null, this.exporter.resultCsv(request.id, request.columns, request.csvDelimiter)),
    );
    zip.end();
  }
}
