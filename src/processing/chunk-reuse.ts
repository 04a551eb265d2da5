import type { LoggerService } from '@nestjs/common';
import { ImageObtained } from '../products/image-obtained.js';
import type { ImageStatus } from '../products/image-status.js';
import type { ImageOutcome } from '../products/image-work.repository.js';
import type {
  Learnt,
  RememberedOutput,
  RememberedSource,
  ReuseRepository,
  ReuseScope,
} from '../products/reuse.repository.js';
import type { ResponseValidators, Validators } from './fetch/image-fetcher.js';

type Succeeded = Extract<ImageOutcome, { status: ImageStatus.Succeeded }>;

/** What a chunk may do with a URL its tenant fetched before. */
export interface KnownSource {
  /** Sent with the request: a 304 then means `output` is current. Null: ask plainly, the hash decides. */
  validators: Validators | null;
  /** The output made for the chunk's options from the bytes hashing to `output.sourceXxh3`. */
  output: RememberedOutput;
}

/**
 * A chunk's memory of its URLs (docs/architecture.md, "Re-runs"): read in one
 * statement as it starts, and what it learns written in one as it ends. Only
 * successes are learnt: an error leaves what was remembered as it was.
 * Remembering is an optimisation, so a statement of it that fails is logged
 * and the chunk goes on; the next request fetches in full.
 */
export class ChunkReuse {
  private readonly learnt: Learnt = { validators: [], outputs: [], forgetUrls: [], forgetOutputUrls: [] };

  private constructor(
    private readonly repository: ReuseRepository,
    private readonly scope: ReuseScope,
    private readonly logger: LoggerService,
    private readonly remembered: Map<string, RememberedSource>,
  ) {}

  static async open(
    repository: ReuseRepository,
    scope: ReuseScope,
    urls: readonly string[],
    logger: LoggerService,
  ): Promise<ChunkReuse> {
    let remembered = new Map<string, RememberedSource>();
    try {
      remembered = await repository.lookup(scope, urls);
    } catch (error) {
      logger.warn(`Reading what was fetched before failed, fetching in full: ${(error as Error).message}`);
    }
    return new ChunkReuse(repository, scope, logger, remembered);
  }

  /** The output a request may copy for `url`, and the validators that make asking for it conditional; null: none. */
  known(url: string): KnownSource | null {
    const source = this.remembered.get(url);
    if (!source?.output) return null;
    // The last fetch (maybe for other options) brought other bytes than this output's: a 304 would vouch for those.
    const current = source.output.sourceXxh3 === source.xxh3;
    const validators = current && (source.etag || source.lastModified) ? source : null;
    return {
      validators: validators && { etag: validators.etag, lastModified: validators.lastModified },
      output: source.output,
    };
  }

  /** The remembered output's file is gone: it is forgotten, and the URL is fetched in full. */
  forgetOutput(url: string): void {
    this.remembered.delete(url);
    this.learnt.forgetOutputUrls.push(url);
  }

  /**
   * A success: `validators` as the response left them (a 304 may leave out
   * what it did not change), `xxh3` of the bytes the outcome was made from.
   */
  learn(url: string, validators: ResponseValidators, xxh3: string, outcome: Succeeded): void {
    if (validators.noStore) {
      this.learnt.forgetUrls.push(url);
      return;
    }
    const before = outcome.obtained === ImageObtained.Revalidated ? this.remembered.get(url) : undefined;
    this.learnt.validators.push({
      url,
      etag: validators.etag ?? before?.etag ?? null,
      lastModified: validators.lastModified ?? before?.lastModified ?? null,
      xxh3,
    });
    this.learnt.outputs.push({
      url,
      sourceXxh3: xxh3,
      outputKey: outcome.outputKey,
      format: outcome.format,
      bytesIn: outcome.bytesIn,
      bytesOut: outcome.bytesOut,
      width: outcome.width,
      height: outcome.height,
    });
  }

  /** Writes what the chunk learnt as `requestId`'s, in one statement; nothing when it learnt nothing. */
  async write(requestId: string): Promise<void> {
    const { validators, outputs, forgetUrls } = this.learnt;
    // A vanished output replaced by a new one is written, not deleted: one statement may not do both to a row.
    const written = new Set(outputs.map((output) => output.url));
    const forgetOutputUrls = this.learnt.forgetOutputUrls.filter((url) => !written.has(url));
    if (validators.length + outputs.length + forgetUrls.length + forgetOutputUrls.length === 0) return;
    try {
      await this.repository.remember(this.scope, requestId, { validators, outputs, forgetUrls, forgetOutputUrls });
    } catch (error) {
      this.logger.warn(`Remembering what was fetched failed: ${(error as Error).message}`);
    }
  }
}
