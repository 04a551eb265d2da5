import { createHash } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { PreparedStatements } from '../database/prepared-statements.js';
import { LOOKUP, REMEMBER, type RememberColumns } from './reuse.statements.js';

/** Whose memory a chunk reads and writes: its request's tenant, options and the pipeline's version. */
export interface ReuseScope {
  tenant: string;
  /** SHA-256 of the options and settings that change an output's bytes (processing/reuse-key.ts). */
  optionsKey: string;
  pipelineVersion: number;
}

/** A source's validators as a successful fetch left them. */
export interface SourceValidators {
  /** A strong ETag, quoted. */
  etag: string | null;
  lastModified: string | null;
}

/** An output a request may copy, made from the bytes hashing to `sourceXxh3`. */
export interface RememberedOutput {
  sourceXxh3: string;
  outputKey: string;
  format: string;
  bytesIn: number;
  bytesOut: number;
  width: number;
  height: number;
}

/** What the tenant knows of a URL: the source as last fetched and, for the scope's options, an output. */
export interface RememberedSource extends SourceValidators {
  xxh3: string;
  output: RememberedOutput | null;
}

/** What a chunk learnt, written at its end (ReuseRepository.remember). */
export interface Learnt {
  validators: (SourceValidators & { url: string; xxh3: string })[];
  outputs: (RememberedOutput & { url: string })[];
  /** Answered with `Cache-Control: no-store`: nothing is kept of them. */
  forgetUrls: string[];
  /** Their remembered output for the scope was gone from storage. */
  forgetOutputUrls: string[];
}

/** The key a URL is remembered under: fixed-size, whatever the URL's length. */
export function urlHash(url: string): string {
  return createHash('sha256').update(url).digest('hex');
}

/**
 * Owner of the tables `source_validator` and `reusable_output`: what each
 * tenant remembers of the URLs it fetched and the outputs made from them
 * (docs/architecture.md, "Re-runs"). A chunk reads its URLs in one statement
 * as it starts and writes what it learnt in one as it ends; a request with
 * `reuse` off runs neither. Rows belong to the newest request that used them
 * and are deleted with it (ON DELETE CASCADE).
 */
@Injectable()
export class ReuseRepository {
  constructor(private readonly prepared: PreparedStatements) {}

  /** What the scope's tenant remembers of `urls`, by URL; URLs it knows nothing of are absent. */
  async lookup(scope: ReuseScope, urls: readonly string[]): Promise<Map<string, RememberedSource>> {
    const byHash = new Map(urls.map((url) => [urlHash(url), url]));
    const rows = await this.prepared.run(LOOKUP, { ...scope, urlHashes: [...byHash.keys()] });
    const found = new Map<string, RememberedSource>();
    for (const row of rows) {
      const url = byHash.get(row.urlHash);
      if (url === undefined) continue;
      const output =
        row.outputKey === null
          ? null
          : {
              sourceXxh3: row.sourceXxh3!,
              outputKey: row.outputKey,
              format: row.format!,
              bytesIn: row.bytesIn!,
              bytesOut: row.bytesOut!,
              width: row.width!,
              height: row.height!,
            };
      found.set(url, { etag: row.etag, lastModified: row.lastModified, xxh3: row.xxh3, output });
    }
    return found;
  }

  /**
   * Writes what a chunk learnt, in one statement, as `requestId`'s: every row
   * written now goes with that request. Rows are sorted by key so that two
   * chunks writing the same URLs lock them in one order.
   */
  async remember(scope: ReuseScope, requestId: string, learnt: Learnt): Promise<void> {
    const validators = sortedByHash(learnt.validators);
    const outputs = sortedByHash(learnt.outputs);
    const columns: RememberColumns = {
      ...scope,
      requestId,
      validatorUrls: validators.map(([hash]) => hash),
      etags: validators.map(([, v]) => v.etag),
      lastModified: validators.map(([, v]) => v.lastModified),
      xxh3s: validators.map(([, v]) => v.xxh3),
      outputUrls: outputs.map(([hash]) => hash),
      sourceXxh3s: outputs.map(([, o]) => o.sourceXxh3),
      outputKeys: outputs.map(([, o]) => o.outputKey),
      formats: outputs.map(([, o]) => o.format),
      bytesIn: outputs.map(([, o]) => o.bytesIn),
      bytesOut: outputs.map(([, o]) => o.bytesOut),
      widths: outputs.map(([, o]) => o.width),
      heights: outputs.map(([, o]) => o.height),
      forgetUrls: learnt.forgetUrls.map(urlHash),
      forgetOutputUrls: learnt.forgetOutputUrls.map(urlHash),
    };
    await this.prepared.run(REMEMBER, columns);
  }
}

/** One entry per URL (the last wins: an upsert may not touch a row twice), sorted by the URL's hash. */
function sortedByHash<T extends { url: string }>(entries: readonly T[]): [string, T][] {
  const byHash = new Map(entries.map((entry) => [urlHash(entry.url), entry]));
  return [...byHash].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}
