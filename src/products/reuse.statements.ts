import { type Kysely, sql } from 'kysely';
import { type Param, type Tables, prepareQuery } from '../database/typed-sql.js';
import type { ReusableOutput } from './reusable-output.entity.js';
import type { SourceValidator } from './source-validator.entity.js';

/*
 * The typed statements of ReuseRepository (reuse.repository.ts), which owns
 * them: one lookup and one write per chunk, prepared (see PreparedStatements).
 */

type ReuseTables = Tables<typeof SourceValidator | typeof ReusableOutput>;

/**
 * What a chunk may reuse: one row per URL its tenant fetched before, with the output for the chunk's options, if any.
 * Each URL is a probe by primary key (the lateral LIMIT 1 keeps it one): planned as a join, before the
 * tables had statistics (a catalogue's first run, or its re-run minutes later), PostgreSQL scanned
 * every row of the tenant instead, 7.6 ms a chunk at 3 000 rows and growing with the catalogue.
 */
export const LOOKUP = prepareQuery(
  'reuse.lookup',
  (
    db: Kysely<ReuseTables>,
    param: Param<{ tenant: string; urlHashes: string[]; optionsKey: string; pipelineVersion: number }>,
  ) =>
    db
      .selectFrom(sql<{ url_hash: string }>`unnest(${param('urlHashes')}::text[])`.as<'h'>(sql`h(url_hash)`))
      .innerJoinLateral(
        (eb) =>
          eb
            .selectFrom('source_validator')
            .select(['etag', 'last_modified', 'xxh3'])
            .where('tenant', '=', param('tenant'))
            .whereRef('url_hash', '=', 'h.url_hash')
            .limit(1)
            .as('v'),
        (join) => join.onTrue(),
      )
      .leftJoinLateral(
        (eb) =>
          eb
            .selectFrom('reusable_output')
            .select(['source_xxh3', 'output_key', 'format', 'bytes_in', 'bytes_out', 'width', 'height'])
            .where('tenant', '=', param('tenant'))
            .whereRef('url_hash', '=', 'h.url_hash')
            .where('options_key', '=', param('optionsKey'))
            .where('pipeline_version', '=', sql<number>`${param('pipelineVersion')}::int`)
            .limit(1)
            .as('o'),
        (join) => join.onTrue(),
      )
      .select([
        'h.url_hash as urlHash',
        'v.etag',
        'v.last_modified as lastModified',
        'v.xxh3',
        'o.source_xxh3 as sourceXxh3',
        'o.output_key as outputKey',
        'o.format',
        'o.bytes_in as bytesIn',
        'o.bytes_out as bytesOut',
        'o.width',
        'o.height',
      ]),
);

/** ReuseRepository.remember's batch, one array per column, aligned per table. */
export interface RememberColumns {
  tenant: string;
  requestId: string;
  optionsKey: string;
  pipelineVersion: number;
  validatorUrls: string[];
  etags: (string | null)[];
  lastModified: (string | null)[];
  xxh3s: string[];
  outputUrls: string[];
  sourceXxh3s: string[];
  outputKeys: string[];
  formats: string[];
  bytesIn: number[];
  bytesOut: number[];
  widths: number[];
  heights: number[];
  /** URLs answered with `Cache-Control: no-store`: everything remembered of them goes. */
  forgetUrls: string[];
  /** URLs whose remembered output for these options was gone from storage. */
  forgetOutputUrls: string[];
}

/**
 * Everything a chunk learnt, in one statement: validators and outputs
 * upserted (each row now the chunk's request's), and what is to be forgotten
 * deleted. PostgreSQL runs every data-modifying CTE, referenced or not.
 * The deletes read nothing when there is nothing to forget (a one-time
 * filter on their arrays): their generic plan, before the tables have
 * statistics, would scan every row of the tenant.
 */
export const REMEMBER = prepareQuery('reuse.remember', (db: Kysely<ReuseTables>, param: Param<RememberColumns>) => {
  const tenant = sql<string>`${param('tenant')}::text`;
  const request = sql<string>`${param('requestId')}::uuid`;
  const optionsKey = sql<string>`${param('optionsKey')}::text`;
  const pipelineVersion = sql<number>`${param('pipelineVersion')}::int`;
  return db
    .with('validators', (db) =>
      db
        .insertInto('source_validator')
        .columns(['tenant', 'url_hash', 'etag', 'last_modified', 'xxh3', 'request_id', 'updated_at'])
        .expression(
          db
            .selectFrom(
              sql<{ url_hash: string; etag: string | null; last_modified: string | null; xxh3: string }>`unnest(
                ${param('validatorUrls')}::text[], ${param('etags')}::text[], ${param('lastModified')}::text[],
                ${param('xxh3s')}::text[])`.as<'x'>(sql`x(url_hash, etag, last_modified, xxh3)`),
            )
            .select((eb) => [
              tenant.as('tenant'),
              'x.url_hash',
              'x.etag',
              'x.last_modified',
              'x.xxh3',
              request.as('request_id'),
              eb.fn<string>('now').as('updated_at'),
            ]),
        )
        .onConflict((oc) =>
          oc.columns(['tenant', 'url_hash']).doUpdateSet((eb) => ({
            etag: eb.ref('excluded.etag'),
            last_modified: eb.ref('excluded.last_modified'),
            xxh3: eb.ref('excluded.xxh3'),
            request_id: eb.ref('excluded.request_id'),
            updated_at: eb.ref('excluded.updated_at'),
          })),
        ),
    )
    .with('outputs', (db) =>
      db
        .insertInto('reusable_output')
        .columns([
          'tenant',
          'url_hash',
          'options_key',
          'pipeline_version',
          'source_xxh3',
          'output_key',
          'format',
          'bytes_in',
          'bytes_out',
          'width',
          'height',
          'request_id',
        ])
        .expression(
          db
            .selectFrom(
              sql<{
                url_hash: string;
                source_xxh3: string;
                output_key: string;
                format: string;
                bytes_in: number;
                bytes_out: number;
                width: number;
                height: number;
              }>`unnest(${param('outputUrls')}::text[], ${param('sourceXxh3s')}::text[], ${param('outputKeys')}::text[],
                ${param('formats')}::text[], ${param('bytesIn')}::int[], ${param('bytesOut')}::int[],
                ${param('widths')}::int[], ${param('heights')}::int[])`.as<'y'>(
                sql`y(url_hash, source_xxh3, output_key, format, bytes_in, bytes_out, width, height)`,
              ),
            )
            .select([
              tenant.as('tenant'),
              'y.url_hash',
              optionsKey.as('options_key'),
              pipelineVersion.as('pipeline_version'),
              'y.source_xxh3',
              'y.output_key',
              'y.format',
              'y.bytes_in',
              'y.bytes_out',
              'y.width',
              'y.height',
              request.as('request_id'),
            ]),
        )
        .onConflict((oc) =>
          oc.columns(['tenant', 'url_hash', 'options_key', 'pipeline_version']).doUpdateSet((eb) => ({
            source_xxh3: eb.ref('excluded.source_xxh3'),
            output_key: eb.ref('excluded.output_key'),
            format: eb.ref('excluded.format'),
            bytes_in: eb.ref('excluded.bytes_in'),
            bytes_out: eb.ref('excluded.bytes_out'),
            width: eb.ref('excluded.width'),
            height: eb.ref('excluded.height'),
            request_id: eb.ref('excluded.request_id'),
          })),
        ),
    )
    .with('forgotten_validators', (db) =>
      db
        .deleteFrom('source_validator')
        .where(sql<boolean>`cardinality(${param('forgetUrls')}::text[]) > 0`)
        .where('tenant', '=', tenant)
        .where('url_hash', '=', sql<string>`any(${param('forgetUrls')}::text[])`),
    )
    .with('forgotten_outputs', (db) =>
      db
        .deleteFrom('reusable_output')
        .where(
          sql<boolean>`cardinality(${param('forgetUrls')}::text[]) + cardinality(${param('forgetOutputUrls')}::text[]) > 0`,
        )
        .where('tenant', '=', tenant)
        .where((eb) =>
          eb.or([
            eb('url_hash', '=', sql<string>`any(${param('forgetUrls')}::text[])`),
            eb.and([
              eb('url_hash', '=', sql<string>`any(${param('forgetOutputUrls')}::text[])`),
              eb('options_key', '=', optionsKey),
              eb('pipeline_version', '=', pipelineVersion),
            ]),
          ]),
        ),
    )
    .selectNoFrom(sql<boolean>`true`.as('written'));
});
